/**
 * Creates (or updates) what the tasks service keeps in JetStream, so any
 * instance can start first: the TASKS stream, one durable pull consumer per
 * priority on its run subjects (shared by all workers), and the two small KV
 * buckets for the scheduler leader and worker ids.
 */
import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { ensureStream } from "@colmena/runtime";
import { LEADER_BUCKET, PRIORITIES, TASKS_STREAM, WORKER_IDS_BUCKET, allEvents, runFilter, workConsumer } from "./events.ts";

/**
 * The stream. A cluster that is still forming (or has a node down)
 * answers "no suitable peers" for a while: keep trying for up to 30 s
 * rather than fail the start.
 */
export async function ensureTaskStreams(nc: NatsConnection, replicas: number): Promise<JetStreamManager> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await ensureStream(nc, { name: TASKS_STREAM, subjects: [allEvents], num_replicas: replicas });
    } catch (err) {
      const transient = /no suitable peers|peer offline|insufficient resources|timeout|no responders|leader/i.test(String((err as Error).message));
      if (!transient || Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/**
 * The work consumers: the run messages of one priority, in stream order; a
 * run message acked is a task this service is finished with (its ack floor
 * is the work queue's head). `ack_wait` is the stall timeout: a worker that
 * neither acks nor sends `working()` for that long is presumed dead and the
 * task is redelivered. Deliveries are unbounded because the service counts
 * attempts itself, in the task's events (a redelivery after a cancel is not
 * an attempt).
 */
export async function ensureWorkConsumers(jsm: JetStreamManager, ackWaitMs: number): Promise<void> {
  for (const p of PRIORITIES) {
    const cfg = {
      durable_name: workConsumer(p),
      filter_subject: runFilter(p),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ackWaitMs * 1_000_000,
      max_deliver: -1,
      max_ack_pending: 100_000,
      max_waiting: 4096,
    };
    try {
      await jsm.consumers.add(TASKS_STREAM, cfg);
    } catch (err) {
      if (!/already exists|already in use/i.test(String((err as Error).message))) throw err;
      await jsm.consumers.update(TASKS_STREAM, cfg.durable_name, { ack_wait: cfg.ack_wait, max_ack_pending: cfg.max_ack_pending });
    }
  }
}

/** A KV bucket whose keys expire after `ttlMs` unless refreshed, at `replicas` (`COLMENA_STREAM_REPLICAS`). */
export async function openTtlBucket(nc: NatsConnection, name: typeof LEADER_BUCKET | typeof WORKER_IDS_BUCKET, ttlMs: number, replicas: number): Promise<KV> {
  const kvm = new Kvm(nc);
  try {
    return await kvm.create(name, { ttl: ttlMs, history: 1, replicas });
  } catch {
    // Exists with another TTL (another instance configured differently): use it as it is.
    return await kvm.open(name);
  }
}
