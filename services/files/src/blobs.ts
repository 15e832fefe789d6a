/**
 * Content-addressed, encrypted blobs on a BlobStore. A blob is named by the
 * SHA-256 of its plaintext, computed here from the bytes received (no client
 * hash skips a write), so identical content is stored once across versions
 * and users. Layout in the store:
 *
 * - `m/<sha256>`: the manifest (blob-manifest.ts): the blob id, size, its
 *   parts and the data key wrapped by the master key (bound to the blob id,
 *   hash and size);
 * - the parts: `p/<blob id>/<n>` for a blob written in one stream (`write`:
 *   pieces of PIECE bytes of plaintext), or the parts an upload's chunks were
 *   sealed into as they arrived (`u/<upload>/...`, uploads.ts), which its
 *   commit names in a manifest (`adopt`) without writing the bytes again.
 *
 * The parts are written first, the manifest last, so a blob whose manifest
 * exists is whole. Identical content already stored: the new parts are
 * dropped. Parts no manifest names (a crash, a lost race) and manifests no
 * version names are removed by `collect` (gc.ts) after a grace period.
 */
import { createHash, randomBytes } from "node:crypto";
import { ColmenaError } from "@colmena/protocol";
import { collect as readWhole, type BlobStore } from "./blob-store.ts";
import { SEAL_OVERHEAD, SEGMENT, openSegment, sealPart, wrapKey } from "./blob-crypto.ts";
import { Layout, ManifestCache, fromStored, manifestBinding, type Manifest } from "./blob-manifest.ts";

/**
 * Plaintext bytes per piece of a streamed blob (16 segments, one object store
 * chunk): a writer holds one piece filling and one being stored, so its
 * memory stays a few MiB (with 4 MiB pieces a 1 GiB PUT left the replica
 * 118 MiB above idle).
 */
export const PIECE = 16 * SEGMENT;

export interface StoredBlob {
  sha256: string;
  size: number;
  /** The content was already stored: nothing new was kept. */
  deduplicated: boolean;
}

const manifestKey = (sha: string) => `m/${sha}`;
const piecePrefix = (blob: string) => `p/${blob}/`;
/** A blob id starts with its creation time, so the collector can tell a fresh orphan from an old one. */
const newBlobId = () => `${Date.now().toString(36).padStart(9, "0")}-${randomBytes(8).toString("hex")}`;
export const blobIdTime = (id: string) => parseInt(id.split("-")[0], 36);

/**
 * Sealed parts written to the store one after another with at most one put
 * in flight: the next part is filled (and sealed) while the last one is
 * stored, so a writer never waits on the store between parts and holds at
 * most two parts.
 */
export class PartWriter {
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly store: BlobStore, private readonly key: Buffer, private readonly blob: string) {}

  /** Waits for the put before, then starts storing `plain` (at `offset` of the blob) as object `name`. */
  async put(name: string, offset: number, plain: Uint8Array, endsBlob: boolean): Promise<void> {
    await this.pending;
    const sealed = sealPart(this.key, this.blob, offset, plain, endsBlob);
    // Part names are new (a fresh blob or upload id, a random nonce): nothing to replace.
    const put = this.store.put(name, sealed, { fresh: true });
    put.catch(() => undefined);
    this.pending = put;
  }

  /** Resolves once every part is stored (throws the failure of the last put). */
  drain(): Promise<void> {
    return this.pending;
  }
}

export class Blobs {
  private readonly cache: ManifestCache;

  constructor(readonly store: BlobStore, private readonly master: Buffer) {
    this.cache = new ManifestCache(master);
  }

  /** Stores the bytes of `body` (a stream of any chunking); past `limit.maxBytes` it stops, keeps nothing and throws `limit.tooLarge()`. */
  async write(body: AsyncIterable<Uint8Array>, limit?: { maxBytes: number; tooLarge: () => Error }): Promise<StoredBlob> {
    const blob = newBlobId();
    const hash = createHash("sha256");
    const key = randomBytes(32);
    const writer = new PartWriter(this.store, key, blob);
    const parts: [string, number][] = [];
    let size = 0;
    let held: Buffer[] = [];
    let heldBytes = 0;
    const piece = (plain: Buffer, last: boolean) => {
      const offset = parts.length * PIECE;
      parts.push([String(parts.length), plain.length]);
      return writer.put(`${piecePrefix(blob)}${parts.length - 1}`, offset, plain, last);
    };
    try {
      for await (const chunk of body) {
        size += chunk.length;
        if (limit && size > limit.maxBytes) throw limit.tooLarge();
        hash.update(chunk);
        held.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        heldBytes += chunk.length;
        // A full piece is sealed only once more bytes follow: the blob's last segment is marked as last.
        if (heldBytes > PIECE) {
          const all = Buffer.concat(held, heldBytes);
          let at = 0;
          for (; heldBytes - at > PIECE; at += PIECE) await piece(all.subarray(at, at + PIECE), false);
          held = [all.subarray(at)];
          heldBytes -= at;
        }
      }
      await piece(Buffer.concat(held, heldBytes), true);
      await writer.drain();
    } catch (err) {
      await writer.drain().catch(() => undefined);
      await this.dropParts(piecePrefix(blob), parts);
      throw err;
    }
    const stored = await this.adopt({ blob, base: piecePrefix(blob), parts, size, sha256: hash.digest("hex"), key });
    if (stored.deduplicated) await this.dropParts(piecePrefix(blob), parts);
    return stored;
  }

  /**
   * Makes stored parts the blob of `sha256` by writing its manifest, unless
   * that content is stored already under another blob (`deduplicated`: the
   * caller drops its parts). Writing the manifest of a blob again (a retried
   * commit) is no duplicate.
   */
  async adopt(b: { blob: string; base: string; parts: [string, number][]; size: number; sha256: string; key: Buffer }): Promise<StoredBlob> {
    const existing = await this.manifest(b.sha256);
    if (existing && existing.blob !== b.blob) return { sha256: b.sha256, size: b.size, deduplicated: true };
    const m: Omit<Manifest, "key"> = { v: 2, blob: b.blob, sha256: b.sha256, size: b.size, segment: SEGMENT, base: b.base, parts: b.parts, created_at: Date.now() };
    const full: Manifest = { ...m, key: wrapKey(this.master, b.key, manifestBinding(m)) };
    await this.store.put(manifestKey(b.sha256), Buffer.from(JSON.stringify(full)));
    this.cache.put(full);
    return { sha256: b.sha256, size: b.size, deduplicated: false };
  }

  async manifest(sha256: string): Promise<Manifest | null> {
    const cached = this.cache.get(sha256);
    if (cached) return cached.m;
    const body = await this.store.get(manifestKey(sha256));
    if (!body) return null;
    try {
      return fromStored(JSON.parse((await readWhole(body)).toString("utf8")));
    } catch (cause) {
      throw new ColmenaError("internal", `the manifest of blob ${sha256} is unreadable`, { cause });
    }
  }

  private async layout(sha256: string): Promise<Layout> {
    const cached = this.cache.get(sha256);
    if (cached) return cached;
    const m = await this.manifest(sha256);
    if (!m) throw new ColmenaError("internal", `blob ${sha256} is missing from the blob store`);
    return this.cache.put(m);
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.store.size(manifestKey(sha256))) !== null;
  }

  /**
   * The plaintext bytes [start, end) of a blob, decrypted segment by segment
   * as they stream in, reading only the segments the range covers; a segment
   * that fails its check ends the stream with `internal` before any of its
   * bytes are yielded.
   */
  async *read(sha256: string, start = 0, end?: number): AsyncIterable<Buffer> {
    yield* readLayout(this.store, await this.layout(sha256), start, end ?? Infinity, `blob ${sha256}`);
  }

  /** Removes a blob: its manifest first (so it stops being whole), then its parts. */
  async remove(sha256: string): Promise<void> {
    const m = await this.manifest(sha256).catch(() => null);
    await this.store.delete(manifestKey(sha256));
    this.cache.forget(sha256);
    if (m) await this.dropParts(m.base, m.parts);
  }

  /** Every stored blob's hash. */
  async hashes(): Promise<string[]> {
    return (await this.store.keys("m/")).map((k) => k.slice(2));
  }

  /** Blob ids that have pieces (`p/`). */
  async pieceBlobs(): Promise<string[]> {
    return [...new Set((await this.store.keys("p/")).map((k) => k.split("/")[1]))];
  }

  /** Removes every piece of a streamed blob (found by listing: for the collector). */
  async dropPieces(blob: string): Promise<void> {
    await deleteAll(this.store, await this.store.keys(piecePrefix(blob)));
  }

  /** Removes the named parts under `base`, a few at a time. */
  dropParts(base: string, parts: [string, number][]): Promise<void> {
    return deleteAll(this.store, parts.map(([name]) => base + name));
  }
}

/**
 * The plaintext bytes [start, end) of the blob a layout describes, decrypted
 * segment by segment, reading only the parts and segments the range covers;
 * a segment that fails its check ends the stream with `internal` before any
 * of its bytes are yielded. The next part is fetched while the one before is
 * decrypted and consumed (one part ahead: a reader holds at most two parts),
 * so the store's round trips overlap the sending of the bytes.
 */
export async function* readLayout(store: BlobStore, layout: Layout, start: number, end: number, what: string): AsyncIterable<Buffer> {
  const { m, key } = layout;
  end = Math.min(end, m.size);
  if (end <= start) return;
  const first = layout.partAt(start);
  let last = first;
  while (last + 1 < m.parts.length && layout.starts[last + 1] < end) last++;
  const fetchPart = async (p: number): Promise<Buffer[]> => {
    const span = layout.span(p, start, end);
    const body = await store.get(m.base + m.parts[p][0], { start: span.from, end: span.to });
    if (!body) throw new ColmenaError("internal", `part ${p} of ${what} is missing from the blob store`);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    return chunks;
  };
  let next = fetchPart(first);
  try {
    for (let p = first; p <= last; p++) {
      const held = await next;
      if (p < last) {
        next = fetchPart(p + 1);
        // Awaited at the next part; a reader that stops before it drops it (and its failure).
        next.catch(() => undefined);
      }
      yield* openPart(layout, p, layout.span(p, start, end), held, start, end, what);
    }
  } finally {
    next.catch(() => undefined);
  }
}

/** The plaintext [start, end) of part `p` from its sealed segments (the chunks fetched), cut out of the chunks, copied only when a segment straddles two. */
function* openPart(layout: Layout, p: number, span: { first: number; last: number }, held: Buffer[], start: number, end: number, what: string): Iterable<Buffer> {
  const { m, key } = layout;
  const partEnd = layout.starts[p] + m.parts[p][1];
  let heldBytes = held.reduce((n, c) => n + c.length, 0);
  const take = (n: number): Buffer => {
    if (held[0].length >= n) {
      const out = held[0].subarray(0, n);
      held[0] = held[0].subarray(n);
      if (held[0].length === 0) held.shift();
      heldBytes -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    for (let at = 0; at < n; ) {
      const c = held[0];
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) held.shift();
      else held[0] = c.subarray(k);
    }
    heldBytes -= n;
    return out;
  };
  for (let seg = span.first; seg <= span.last; seg += m.segment) {
    const n = Math.min(m.segment, partEnd - seg) + SEAL_OVERHEAD;
    if (heldBytes < n) throw new ColmenaError("internal", `part ${p} of ${what} is cut short`);
    const plain = openSegment(key, m.blob, layout.position(seg), seg + n - SEAL_OVERHEAD === m.size, take(n));
    const out = plain.subarray(Math.max(start - seg, 0), Math.min(end - seg, plain.length));
    if (out.length) yield out;
  }
}

/** Deletes keys, a few at a time (an upload of 512 KiB chunks has thousands of parts). */
export async function deleteAll(store: BlobStore, keys: string[]): Promise<void> {
  const left = [...keys];
  const worker = async () => {
    for (let k = left.pop(); k !== undefined; k = left.pop()) await store.delete(k);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}
