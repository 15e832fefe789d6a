/**
 * Where the files service keeps bytes: one interface over the JetStream
 * object store (the embedded default) and any S3 server. A blob store knows
 * nothing of users, paths, versions or encryption; it stores opaque objects
 * by key (files/src/blobs.ts puts content addressing and encryption on top).
 * Objects are written whole and bounded (the blob layer cuts a file into
 * pieces of a few MiB), so no store needs multipart uploads or buffers more
 * than one piece; they are read as streams, or a range of one.
 */

/** A byte range of an object: `start` inclusive, `end` exclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PutOptions {
  /** The caller never stored this key before (a part under a fresh id): a store may skip looking for an object to replace. */
  fresh?: boolean;
}

export interface BlobStore {
  /** `nats` or `s3`, for logs. */
  readonly kind: string;
  /** Stores an object (a bounded piece), replacing any of the same key. */
  put(key: string, bytes: Uint8Array, opts?: PutOptions): Promise<void>;
  /** The object's bytes (a range of them), streamed; null when there is no such object. */
  get(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array> | null>;
  /** The object's size in bytes, or null when there is none. */
  size(key: string): Promise<number | null>;
  /** Removes an object; removing a missing one is no error. */
  delete(key: string): Promise<void>;
  /** The keys that start with `prefix`. */
  keys(prefix: string): Promise<string[]>;
}

/** Reads a whole (small) stream into one buffer (its pieces copied once, into it). */
export async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of body) parts.push(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  return parts.length === 1 && parts[0].byteOffset === 0 && parts[0].length === parts[0].buffer.byteLength ? parts[0] : Buffer.concat(parts);
}

/** Yields only the bytes of `range` from a stream of the whole object (for stores that cannot read a range). */
export async function* sliceStream(body: AsyncIterable<Uint8Array>, range: ByteRange): AsyncIterable<Uint8Array> {
  let pos = 0;
  for await (const chunk of body) {
    const from = Math.max(range.start - pos, 0);
    const to = Math.min(range.end - pos, chunk.length);
    if (to > from) yield chunk.subarray(from, to);
    pos += chunk.length;
    if (pos >= range.end) return;
  }
}
