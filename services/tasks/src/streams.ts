/**
 * Creates (or updates) what the tasks service keeps in JetStream, so any
 * instance can start first: the TASKS stream and the two small KV buckets
 * for the scheduler leader and worker ids. (The work durables are the
 * workers' own: `runConsumer` creates them, see worker.ts.)
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { createOrOpenBucket, ensureStreamRetrying } from "@colmena/runtime";
import { LEADER_BUCKET, TASKS_STREAM, WORKER_IDS_BUCKET, allEvents } from "./events.ts";

/**
 * The stream. A cluster that is still forming (or has a node down)
 * answers "no suitable peers" for a while: keep trying for up to 30 s
 * rather than fail the start.
 */
export function ensureTaskStreams(nc: NatsConnection, replicas: number): Promise<JetStreamManager> {
  // nats-server 2.12+: delayed tasks are released by the server (message schedules, task-log.ts `release`),
  // and the appends of one event-loop turn are one atomic batch (EntityLog's group commit).
  return ensureStreamRetrying(nc, { name: TASKS_STREAM, subjects: [allEvents], num_replicas: replicas, allow_msg_schedules: true, allow_atomic: true });
}

/** A KV bucket whose keys expire after `ttlMs` unless refreshed, at `replicas` (`COLMENA_STREAM_REPLICAS`); an existing one with another TTL is used as it is. */
export function openTtlBucket(nc: NatsConnection, name: typeof LEADER_BUCKET | typeof WORKER_IDS_BUCKET, ttlMs: number, replicas: number): Promise<KV> {
  return createOrOpenBucket(nc, name, { ttl: ttlMs, history: 1, replicas });
}
