/**
 * The running SHA-256 of the uploads this replica took chunks of, so that a
 * commit here hashes nothing again: the hash grows as chunks are counted and
 * is kept with the number of parts it covers and the name of the last one.
 * A replica that did not see every chunk (the chunks went to another
 * replica, or it restarted) starts from the longest prefix it has and reads
 * the rest back from the blob store (uploads.ts): a read, never a write, and
 * the digest is always of the counted bytes, whichever replica took them.
 */
import { createHash, type Hash } from "node:crypto";

/** What a kept hash is checked against: the upload's counted parts. */
export interface HashedUpload {
  upload_id: string;
  parts: [string, number][];
}

interface Entry {
  parts: number;
  lastName: string | undefined;
  hash: Hash;
}

export class UploadHashes {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly max = 1024) {}

  /**
   * A copy of the hash of the longest prefix of the upload's counted parts
   * this replica has, and how many parts it covers (0 and a fresh hash when
   * it has none).
   */
  prefix(u: HashedUpload): { hash: Hash; parts: number } {
    const e = this.entries.get(u.upload_id);
    if (e && e.parts <= u.parts.length && (e.parts === 0 || u.parts[e.parts - 1][0] === e.lastName)) return { hash: e.hash.copy(), parts: e.parts };
    return { hash: createHash("sha256"), parts: 0 };
  }

  /** A copy of the hash of all the upload's counted parts, or null when this replica lacks some. */
  whole(u: HashedUpload): Hash | null {
    const p = this.prefix(u);
    return p.parts === u.parts.length ? p.hash : null;
  }

  /** Keeps (a copy of) the hash of the upload's counted parts. */
  keep(u: HashedUpload, hash: Hash): void {
    this.entries.delete(u.upload_id);
    this.entries.set(u.upload_id, { parts: u.parts.length, lastName: u.parts[u.parts.length - 1]?.[0], hash: hash.copy() });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(uploadId: string): void {
    this.entries.delete(uploadId);
  }
}
