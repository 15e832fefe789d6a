/**
 * The blob store on the JetStream object store (the embedded default): one
 * bucket, declared in libs/protocol's BUCKETS so the files user may use it.
 * The object store has no ranged read, so a range streams the object from its
 * start and drops what lies before (bounded memory, more bytes read).
 */
import { Objm, StorageType, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { sliceStream, type BlobStore, type ByteRange } from "./blob-store.ts";

export async function openNatsBlobStore(nc: NatsConnection, bucket: string, replicas = 1): Promise<BlobStore> {
  const os = await new Objm(nc).create(bucket, { storage: StorageType.File, replicas });
  return new NatsBlobStore(os);
}

class NatsBlobStore implements BlobStore {
  readonly kind = "nats";
  constructor(private readonly os: ObjectStore) {}

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.os.putBlob({ name: key }, bytes);
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
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
  const err = await error;
  if (err) throw err;
}
