/**
 * A blob's manifest and where its bytes are: the blob is a list of parts
 * (objects in the blob store), each holding a run of the blob's plaintext
 * sealed in segments (blob-crypto.ts). A blob written in one stream has
 * pieces of PIECE bytes (`p/<blob>/<n>`); a blob that was an upload keeps the
 * parts its chunks were staged as (`u/<upload>/<offset>.<nonce>`), so its
 * commit writes this small manifest and never the bytes again.
 *
 * Manifests never change once written (key rotation aside, which restarts
 * every replica), so each replica keeps the last ones read, with their
 * unwrapped data keys and part offsets, for a few minutes.
 */
import { SEAL_OVERHEAD, unwrapKey } from "./blob-crypto.ts";

export interface Manifest {
  /** 2; 1 is a manifest written before parts (`fromStored` reads it as one). */
  v: 1 | 2;
  /** The id its segments are bound to (a fresh id, or the upload's). */
  blob: string;
  sha256: string;
  size: number;
  segment: number;
  /** Where its parts are: `base` + each part's name, with the plaintext bytes it holds, in order. */
  base: string;
  parts: [name: string, length: number][];
  /** The data key, wrapped by the master key (bound to blob, sha256 and size). Key rotation rewraps this field only. */
  key: string;
  created_at: number;
}

/**
 * A stored manifest as a Manifest. Version 1 (before parts) had pieces
 * `p/<blob>/<n>` of `per_piece` segments and authenticated each segment with
 * its index rather than its offset: it is read as those parts, `v` kept so
 * segments open with their index.
 */
export function fromStored(raw: Manifest | (Omit<Manifest, "v" | "base" | "parts"> & { v: 1; per_piece: number })): Manifest {
  if (!("per_piece" in raw)) return raw;
  const piece = raw.per_piece * raw.segment;
  const count = Math.max(1, Math.ceil(raw.size / piece));
  const parts: [string, number][] = Array.from({ length: count }, (_, n) => [String(n), Math.min(piece, raw.size - n * piece)]);
  return { ...raw, base: `p/${raw.blob}/`, parts };
}

/** What the master key's wrap of a blob's data key is bound to. */
export const manifestBinding = (m: { blob: string; sha256: string; size: number }) => `${m.blob}:${m.sha256}:${m.size}`;

/** A manifest ready to read from: its data key and where each part starts. */
export class Layout {
  readonly starts: number[];

  constructor(readonly m: Manifest, readonly key: Buffer) {
    if (m.v === 1) this.position = (offset) => offset / m.segment;
    this.starts = [];
    let at = 0;
    for (const [, length] of m.parts) {
      this.starts.push(at);
      at += length;
    }
  }

  /** What a segment at `offset` is authenticated with: its offset (a version 1 blob: its index). */
  position = (offset: number) => offset;

  /** The index of the part holding byte `offset`. */
  partAt(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * What to fetch of part `p` for the plaintext [start, end) (clipped to the
   * part): the byte range of its sealed segments, and the blob offset of the
   * first of them.
   */
  span(p: number, start: number, end: number): { from: number; to: number; first: number; last: number } {
    const base = this.starts[p];
    const length = this.m.parts[p][1];
    const a = Math.max(start, base) - base;
    const b = Math.min(end, base + length) - base;
    const firstSeg = Math.floor(a / this.m.segment);
    const lastSeg = Math.max(firstSeg, Math.ceil(b / this.m.segment) - 1);
    const record = this.m.segment + SEAL_OVERHEAD;
    const lastLen = Math.min(length - lastSeg * this.m.segment, this.m.segment);
    return { from: firstSeg * record, to: lastSeg * record + lastLen + SEAL_OVERHEAD, first: base + firstSeg * this.m.segment, last: base + lastSeg * this.m.segment };
  }
}

/** The last manifests read, each for at most `ttlMs`. */
export class ManifestCache {
  private readonly entries = new Map<string, { layout: Layout; at: number }>();

  constructor(private readonly master: Buffer, private readonly max = 64, private readonly ttlMs = 5 * 60_000) {}

  get(sha256: string, now = Date.now()): Layout | undefined {
    const e = this.entries.get(sha256);
    if (!e) return undefined;
    if (now - e.at > this.ttlMs) {
      this.entries.delete(sha256);
      return undefined;
    }
    return e.layout;
  }

  /** Unwraps the manifest's key and keeps it (the oldest entry goes past `max`). */
  put(m: Manifest): Layout {
    const layout = new Layout(m, unwrapKey(this.master, m.key, manifestBinding(m)));
    this.entries.delete(m.sha256);
    this.entries.set(m.sha256, { layout, at: Date.now() });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return layout;
  }

  forget(sha256: string): void {
    this.entries.delete(sha256);
  }
}
