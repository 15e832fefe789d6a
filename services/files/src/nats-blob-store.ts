/**
 * The blob store on the JetStream object store (the embedded default): one
 * bucket, declared in libs/protocol's BUCKETS so the files user may use it.
 * Objects are written by the object store client, in chunks as large as the
 * server takes (one message for a 512 KiB part rather than five), its own
 * SHA-256 of every object taken with node:crypto rather than its pure-JS
 * default. They are read with batched direct gets of their chunk messages
 * rather than the client's get (which creates a consumer per read): a range
 * reads only the chunks up to its end and drops what lies before its start;
 * a whole object is checked against the store's digest, as the client does
 * (a range is not: the blob layer authenticates every segment it reads).
 */
import { createHash } from "node:crypto";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec, Objm, StorageType, setSha256Backend, type ObjectInfo, type ObjectStore } from "@nats-io/obj";
import { headers, nuid, type NatsConnection } from "@nats-io/transport-node";
import { sliceStream, type BlobStore, type ByteRange, type PutOptions } from "./blob-store.ts";
import { retryWhileForming } from "@colmena/runtime";

/** The largest chunk the object store writes: one message per MiB. */
const MAX_CHUNK = 1024 * 1024;

export async function openNatsBlobStore(nc: NatsConnection, bucket: string, replicas = 1): Promise<BlobStore> {
  setSha256Backend("native");
  const os = await retryWhileForming(() => new Objm(nc).create(bucket, { storage: StorageType.File, replicas }));
  return new NatsBlobStore(os, jetstream(nc), await jetstreamManager(nc), bucket, Math.min(MAX_CHUNK, nc.info?.max_payload ?? MAX_CHUNK));
}

/** Chunks asked for in one batched direct get (each up to MAX_CHUNK): what a read holds at most. */
const BATCH = 4;

class NatsBlobStore implements BlobStore {
  readonly kind = "nats";
  constructor(
    private readonly os: ObjectStore,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
    private readonly chunk: number,
  ) {}

  async put(key: string, bytes: Uint8Array, opts?: PutOptions): Promise<void> {
    if (!opts?.fresh) return void (await this.os.putBlob({ name: key, options: { max_chunk_size: this.chunk } }, bytes));
    // A key never stored before (a blob's part): the object store's own layout, written without the
    // client's lookup of an object to replace, its copy of the bytes and its one-publish-at-a-time
    // wait: every chunk and the meta are published at once and their acks awaited together. Should a
    // chunk fail while the meta lands, the object reads as missing chunks (never as wrong bytes) and
    // the failed put makes its caller drop it.
    const id = nuid.next();
    const chunkSubject = `$O.${this.bucket}.C.${id}`;
    const hash = createHash("sha256");
    const acks: Promise<unknown>[] = [];
    let chunks = 0;
    for (let at = 0; at < bytes.length; at += this.chunk, chunks++) {
      const piece = bytes.subarray(at, at + this.chunk);
      hash.update(piece);
      acks.push(this.js.publish(chunkSubject, piece));
    }
    const info = {
      name: key,
      description: "",
      options: { max_chunk_size: this.chunk },
      bucket: this.bucket,
      nuid: id,
      size: bytes.length,
      chunks,
      mtime: new Date().toISOString(),
      digest: `SHA-256=${Base64UrlPaddedCodec.toB64URLEncoding(hash.digest("base64"))}`,
      deleted: false,
    };
    const h = headers();
    h.set("Nats-Rollup", "sub");
    acks.push(this.js.publish(metaSubject(this.bucket, key), JSON.stringify(info), { headers: h }));
    await Promise.all(acks);
  }

  async get(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array> | null> {
    const info = await this.os.info(key);
    if (!info || info.deleted) return null;
    if (info.options?.link) {
      const r = (await this.os.get(key))!;
      const whole = readAll(r.data, r.error);
      return range ? sliceStream(whole, range) : whole;
    }
    if (!range) return this.chunks(info, info.chunks, true);
    const end = Math.min(range.end, info.size);
    if (end <= range.start) return (async function* () {})();
    const per = info.options?.max_chunk_size || 128 * 1024;
    return sliceStream(this.chunks(info, Math.ceil(end / per), false), { start: range.start, end });
  }

  /** The first `count` chunks of an object, `count` at most BATCH at a time; with `check`, the whole object's digest is checked at its end. */
  private async *chunks(info: ObjectInfo, count: number, check: boolean): AsyncIterable<Uint8Array> {
    const subject = `$O.${this.bucket}.C.${info.nuid}`;
    const hash = check ? createHash("sha256") : null;
    let seq = 1;
    for (let got = 0; got < count; ) {
      const batch = await this.jsm.direct.getBatch(`OBJ_${this.bucket}`, { seq, next_by_subj: subject, batch: Math.min(BATCH, count - got) });
      const before = got;
      for await (const m of batch) {
        got++;
        seq = m.seq + 1;
        hash?.update(m.data);
        yield m.data;
        if (got === count) break;
      }
      if (got === before) throw new Error(`object ${info.name} is missing chunks (${got} of ${count})`);
    }
    // The store's digest is `SHA-256=` and the padded base64url of the hash.
    if (hash && hash.digest("base64url") !== info.digest.slice("SHA-256=".length).replace(/=+$/u, "")) {
      throw new Error(`object ${info.name} does not match its digest`);
    }
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

/** The object store's meta subject of an object: its name in padded base64url, with the store's own codec. */
const metaSubject = (bucket: string, name: string) => `$O.${bucket}.M.${Base64UrlPaddedCodec.encode(name)}`;

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
