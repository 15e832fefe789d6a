/**
 * Content-addressed, encrypted blobs on a BlobStore. A blob is named by the
 * SHA-256 of its plaintext, computed here from the bytes received (no client
 * hash skips a write), so identical content is stored once across versions
 * and users. Layout in the store:
 *
 * - `m/<sha256>`: the manifest (JSON): the blob id, size, segment geometry and
 *   the data key wrapped by the master key (bound to the blob id, hash and size);
 * - `p/<blob id>/<n>`: piece n, the sealed segments n*64 .. n*64+63 (4 MiB of
 *   plaintext), so a range reads only the pieces and segments it covers.
 *
 * Pieces are written under a fresh blob id before the hash is known; the
 * manifest comes last, so a blob whose manifest exists is whole. Identical
 * content already stored: the new pieces are dropped. Pieces no manifest
 * names (a crash, a lost race) and manifests no version names are removed by
 * `collect` (gc.ts) after a grace period.
 */
import { createHash, randomBytes } from "node:crypto";
import { ColmenaError } from "@colmena/protocol";
import { collect as readWhole, type BlobStore } from "./blob-store.ts";
import { SEAL_OVERHEAD, SEGMENT, openSegment, sealSegment, unwrapKey, wrapKey } from "./blob-crypto.ts";

/** Segments per piece: a piece is 4 MiB of plaintext, under S3's multipart threshold. */
export const SEGMENTS_PER_PIECE = 64;
const RECORD = SEGMENT + SEAL_OVERHEAD;

export interface Manifest {
  v: 1;
  blob: string;
  sha256: string;
  size: number;
  segment: number;
  per_piece: number;
  /** The data key, wrapped by the master key. Key rotation rewraps this field only. */
  key: string;
  created_at: number;
}

export interface StoredBlob {
  sha256: string;
  size: number;
  /** The content was already stored: nothing new was kept. */
  deduplicated: boolean;
}

const manifestKey = (sha: string) => `m/${sha}`;
const piecePrefix = (blob: string) => `p/${blob}/`;
const pieceKey = (blob: string, n: number) => `${piecePrefix(blob)}${n}`;
const binding = (m: { blob: string; sha256: string; size: number }) => `${m.blob}:${m.sha256}:${m.size}`;
const segmentsOf = (size: number) => Math.max(1, Math.ceil(size / SEGMENT));
const segLength = (size: number, i: number) => (i < segmentsOf(size) - 1 ? SEGMENT : size - (segmentsOf(size) - 1) * SEGMENT);
/** A blob id starts with its creation time, so the collector can tell a fresh orphan from an old one. */
const newBlobId = () => `${Date.now().toString(36).padStart(9, "0")}-${randomBytes(8).toString("hex")}`;
export const blobIdTime = (id: string) => parseInt(id.split("-")[0], 36);

export class Blobs {
  constructor(readonly store: BlobStore, private readonly master: Buffer) {}

  /** Stores the bytes of `body` (a stream of any chunking); past `limit.maxBytes` it stops, keeps nothing and throws `limit.tooLarge()`. */
  async write(body: AsyncIterable<Uint8Array>, limit?: { maxBytes: number; tooLarge: () => Error }): Promise<StoredBlob> {
    const blob = newBlobId();
    const hash = createHash("sha256");
    // The data key is wrapped at the end, bound to the hash and size then known.
    const key = randomBytes(32);
    let size = 0;
    let index = 0;
    let pending = Buffer.alloc(0);
    let piece: Buffer[] = [];
    let pieceNo = 0;
    const flushPiece = async () => {
      if (piece.length === 0) return;
      await this.store.put(pieceKey(blob, pieceNo++), Buffer.concat(piece));
      piece = [];
    };
    const seal = async (plain: Buffer, last: boolean) => {
      piece.push(sealSegment(key, blob, index++, last, plain));
      if (piece.length === SEGMENTS_PER_PIECE) await flushPiece();
    };
    try {
      for await (const chunk of body) {
        size += chunk.length;
        if (limit && size > limit.maxBytes) throw limit.tooLarge();
        hash.update(chunk);
        pending = pending.length ? Buffer.concat([pending, chunk]) : Buffer.from(chunk);
        // A full segment is sealed only once more bytes follow: the last one is marked as last.
        while (pending.length > SEGMENT) {
          await seal(pending.subarray(0, SEGMENT), false);
          pending = pending.subarray(SEGMENT);
        }
      }
      await seal(pending, true);
      await flushPiece();
    } catch (err) {
      await this.dropPieces(blob);
      throw err;
    }
    const sha256 = hash.digest("hex");
    if (await this.manifest(sha256)) {
      await this.dropPieces(blob);
      return { sha256, size, deduplicated: true };
    }
    const m: Omit<Manifest, "key"> = { v: 1, blob, sha256, size, segment: SEGMENT, per_piece: SEGMENTS_PER_PIECE, created_at: Date.now() };
    await this.store.put(manifestKey(sha256), Buffer.from(JSON.stringify({ ...m, key: wrapKey(this.master, key, binding(m)) })));
    return { sha256, size, deduplicated: false };
  }

  async manifest(sha256: string): Promise<Manifest | null> {
    const body = await this.store.get(manifestKey(sha256));
    if (!body) return null;
    try {
      return JSON.parse((await readWhole(body)).toString("utf8")) as Manifest;
    } catch (cause) {
      throw new ColmenaError("internal", `the manifest of blob ${sha256} is unreadable`, { cause });
    }
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.store.size(manifestKey(sha256))) !== null;
  }

  /**
   * The plaintext bytes [start, end) of a blob, decrypted segment by segment
   * as they stream in; a segment that fails its check ends the stream with
   * `internal` before any of its bytes are yielded.
   */
  async *read(sha256: string, start = 0, end?: number): AsyncIterable<Buffer> {
    const m = await this.manifest(sha256);
    if (!m) throw new ColmenaError("internal", `blob ${sha256} is missing from the blob store`);
    const key = unwrapKey(this.master, m.key, binding(m));
    end = Math.min(end ?? m.size, m.size);
    if (end <= start) return;
    const count = segmentsOf(m.size);
    const first = Math.floor(start / m.segment);
    const lastSeg = Math.floor((end - 1) / m.segment);
    for (let p = Math.floor(first / m.per_piece); p <= Math.floor(lastSeg / m.per_piece); p++) {
      const from = Math.max(first, p * m.per_piece);
      const to = Math.min(lastSeg, (p + 1) * m.per_piece - 1);
      const offset = (from - p * m.per_piece) * RECORD;
      const length = (to - from) * RECORD + segLength(m.size, to) + SEAL_OVERHEAD;
      const body = await this.store.get(pieceKey(m.blob, p), { start: offset, end: offset + length });
      if (!body) throw new ColmenaError("internal", `piece ${p} of blob ${sha256} is missing from the blob store`);
      let buf = Buffer.alloc(0);
      let seg = from;
      const emit = (sealed: Buffer) => {
        const plain = openSegment(key, m.blob, seg, seg === count - 1, sealed);
        const base = seg * m.segment;
        seg++;
        return plain.subarray(Math.max(start - base, 0), Math.min(end! - base, plain.length));
      };
      for await (const chunk of body) {
        buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk);
        while (seg <= to && buf.length >= segLength(m.size, seg) + SEAL_OVERHEAD) {
          const n = segLength(m.size, seg) + SEAL_OVERHEAD;
          const out = emit(buf.subarray(0, n));
          buf = buf.subarray(n);
          if (out.length) yield out;
        }
      }
      if (seg <= to) throw new ColmenaError("internal", `piece ${p} of blob ${sha256} is cut short`);
    }
  }

  /** Removes a blob: its manifest first (so it stops being whole), then its pieces. */
  async remove(sha256: string): Promise<void> {
    const m = await this.manifest(sha256).catch(() => null);
    await this.store.delete(manifestKey(sha256));
    if (m) await this.dropPieces(m.blob);
  }

  /** Every stored blob's hash. */
  async hashes(): Promise<string[]> {
    return (await this.store.keys("m/")).map((k) => k.slice(2));
  }

  /** Blob ids that have pieces. */
  async pieceBlobs(): Promise<string[]> {
    return [...new Set((await this.store.keys("p/")).map((k) => k.split("/")[1]))];
  }

  async dropPieces(blob: string): Promise<void> {
    for (const k of await this.store.keys(piecePrefix(blob))) await this.store.delete(k);
  }
}
