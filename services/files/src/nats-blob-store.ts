/**
 * The blob store on the JetStream object store (the embedded default): one
 * bucket, declared in libs/protocol's BUCKETS so the files user may use it.
 * The object store has no ranged read, so a range streams the object from its
 * start, drops what lies before and stops the read at its end (bounded
 * memory, more bytes read). Objects are stored in chunks as large as the
 * server takes (one message for a 512 KiB part rather than five), and the
 * object store's own SHA-256 of every object (checked on every read) uses
 * node:crypto rather than the client's pure-JS default.
 */
import { Objm, StorageType, setSha256Backend, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { sliceStream, type BlobStore, type ByteRange } from "./blob-store.ts";

/** The largest chunk the object store writes: one message per MiB. */
const MAX_CHUNK = 1024 * 1024;

export async function openNatsBlobStore(nc: NatsConnection, bucket: string, replicas = 1): Promise<BlobStore> {
  setSha256Backend("native");
  const os = await new Objm(nc).create(bucket, { storage: StorageType.File, replicas });
  return new NatsBlobStore(os, Math.min(MAX_CHUNK, nc.info?.max_payload ?? MAX_CHUNK));
}

class NatsBlobStore implements BlobStore {
  readonly kind = "nats";
  constructor(private readonly os: ObjectStore, private readonly chunk: number) {}

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.os.putBlob({ name: key, options: { max_chunk_size: this.chunk } }, bytes);
  }

  async get(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array> | null> {
    const r = await this.os.get(key);
    if (!r) return null;
    const whole = readAll(r.data, r.error);
    return range ? sliceStream(whole, range) : whole;
  }

  async size(key: string): Promise<number | null> {
    const info = await this.os.info(key);
    return info && !info.deleted ? info.size : null;
  }

  async delete(key: string): Promise<void> {
    const info = await this.os.info(key);
    if (info && !info.deleted) await this.os.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    return (await this.os.list()).filter((i) => !i.deleted && i.name.startsWith(prefix)).map((i) => i.name);
  }
}

/** The object's chunks, then the store's verdict (its digest check) once they end. */
async function* readAll(data: ReadableStream<Uint8Array>, error: Promise<Error | null>): AsyncIterable<Uint8Array> {
  const reader = data.getReader();
  let done = false;
  try {
    for (;;) {
      const r = await reader.read();
      if ((done = r.done)) break;
      yield r.value;
    }
  } finally {
    // Left early (a range ended): stop the object's delivery.
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  const err = await error;
  if (err) throw err;
}
