import { JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV, type KvOptions } from "@nats-io/kv";
import { setTimeout as sleep } from "node:timers/promises";
import { natsOutage } from "./nats-outage.ts";

export type StreamSpec = Partial<StreamConfig> & { name: string; subjects: string[] };

/** nats-server's 10058, "stream name already in use with a different configuration": an add that lost a race to another instance's. */
const isStreamNameInUse = (err: unknown) => err instanceof JetStreamApiError && err.code === 10058;

/**
 * Creates a stream, or updates it to this spec when it exists, so every
 * instance can call it at start. Defaults: file storage, one replica (callers
 * pass `num_replicas` from their `COLMENA_STREAM_REPLICAS` setting), and a
 * 2 min duplicate window for `Nats-Msg-Id`.
 */
export async function ensureStream(nc: NatsConnection | JetStreamManager, spec: StreamSpec): Promise<JetStreamManager> {
  const jsm = "streams" in nc ? nc : await jetstreamManager(nc);
  const cfg: Partial<StreamConfig> = {
    num_replicas: 1,
    duplicate_window: 120_000_000_000,
    ...spec,
  };
  try {
    await jsm.streams.info(spec.name);
    await jsm.streams.update(spec.name, cfg);
  } catch (err) {
    if (!/stream not found/i.test(String((err as Error).message))) throw err;
    try {
      await jsm.streams.add(cfg as StreamConfig & { name: string });
    } catch (e) {
      // Another instance created it, configured differently, between our info and add.
      if (!isStreamNameInUse(e)) throw e;
    }
  }
  return jsm;
}

/** What a cluster that is still forming (or has a node down) answers for a while. */
const TRANSIENT = /no suitable peers|peer offline|insufficient resources|timeout|no responders|leader/i;

/**
 * Runs `fn` again, every 500 ms for up to `retryForMs` (default 30 s), while
 * it fails the way a cluster that is still forming fails: "no suitable peers"
 * and the like from the JetStream API, or no answer at all (`natsOutage`),
 * as when a bucket's stream was just created on one node and the node this
 * client talks to has not yet heard that its leader listens. For what a
 * service does once at start (create a stream or bucket, claim a key), so it
 * waits for its cluster instead of failing its start.
 */
export async function retryWhileForming<T>(fn: () => Promise<T>, retryForMs = 30_000): Promise<T> {
  const deadline = Date.now() + retryForMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const transient = natsOutage(err) || TRANSIENT.test(String((err as Error).message));
      if (!transient || Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/** `ensureStream`, retried while the cluster is forming (`retryWhileForming`). */
export function ensureStreamRetrying(nc: NatsConnection, spec: StreamSpec, retryForMs = 30_000): Promise<JetStreamManager> {
  return retryWhileForming(() => ensureStream(nc, spec), retryForMs);
}

/**
 * A KV bucket created with `opts` (retried while the cluster forms), or the
 * existing one as it is. nats.js's create already opens a bucket that exists,
 * whatever its settings; it throws "already in use" only when another
 * instance created it, configured differently, between its look and its add,
 * and then the bucket is opened too. Any other failure (replicas the cluster
 * cannot place, account limits, a cluster still forming past the retries) is
 * thrown: nats.js's open binds without asking the server, so opening after
 * those would start a service on a bucket that does not exist.
 */
export async function createOrOpenBucket(nc: NatsConnection, name: string, opts: Partial<KvOptions>): Promise<KV> {
  const kvm = new Kvm(nc);
  try {
    return await retryWhileForming(() => kvm.create(name, opts));
  } catch (err) {
    if (!isStreamNameInUse(err)) throw err;
    return await kvm.open(name);
  }
}

/** How often a service looks for what is past its retention: often enough that nothing outlives it by much, at most once a minute. */
export const retentionCheckEveryMs = (retentionMs: number) => Math.min(60_000, Math.max(250, Math.floor(retentionMs / 4)));
