import { jetstreamManager, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

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
