import { jetstreamManager, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";

export type StreamSpec = Partial<StreamConfig> & { name: string; subjects: string[] };

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
      // Another instance created it between our info and add.
      if (!/already in use|exists/i.test(String((e as Error).message))) throw e;
    }
  }
  return jsm;
}

/** What a cluster that is still forming (or has a node down) answers for a while. */
const TRANSIENT = /no suitable peers|peer offline|insufficient resources|timeout|no responders|leader/i;

/**
 * `ensureStream`, retried for up to `retryForMs` (default 30 s) while the
 * answer is one a forming cluster gives ("no suitable peers" and the like),
 * so a service started with its cluster waits instead of failing its start.
 */
export async function ensureStreamRetrying(nc: NatsConnection, spec: StreamSpec, retryForMs = 30_000): Promise<JetStreamManager> {
  const deadline = Date.now() + retryForMs;
  for (;;) {
    try {
      return await ensureStream(nc, spec);
    } catch (err) {
      if (!TRANSIENT.test(String((err as Error).message)) || Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}
