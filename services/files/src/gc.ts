/**
 * The blob garbage collector. A blob's reference count is the number of file
 * versions naming its hash (the read model counts them); a blob no version
 * names, pieces no manifest names, and the parts of uploads whose state is
 * gone that no manifest names, are removed once older than the grace period,
 * which covers a write whose version is not yet in the read model (blobs are
 * written before their version's event).
 */
import { blobIdTime, type Blobs } from "./blobs.ts";
import type { Uploads } from "./uploads.ts";

export interface GcResult {
  blobs: number;
  orphanPieces: number;
}

/** The blob ids the stored manifests name. */
export async function namedBlobs(blobs: Blobs): Promise<Set<string>> {
  const named = new Set<string>();
  for (const sha of await blobs.hashes()) {
    const m = await blobs.manifest(sha).catch(() => null);
    if (m) named.add(m.blob);
  }
  return named;
}

export async function collectGarbage(blobs: Blobs, refCount: (sha256: string) => number, graceMs: number, now = Date.now()): Promise<GcResult> {
  let removed = 0;
  const named = new Set<string>();
  for (const sha of await blobs.hashes()) {
    const m = await blobs.manifest(sha).catch(() => null);
    if (m) named.add(m.blob);
    if (refCount(sha) > 0) continue;
    if (m && now - m.created_at < graceMs) continue;
    await blobs.remove(sha);
    if (m) named.delete(m.blob);
    removed++;
  }
  let orphans = 0;
  for (const blob of await blobs.pieceBlobs()) {
    if (named.has(blob) || now - blobIdTime(blob) < graceMs) continue;
    await blobs.dropPieces(blob);
    orphans++;
  }
  return { blobs: removed, orphanPieces: orphans };
}

/** The collector and the upload sweep, as the service runs them. */
export async function collectAll(blobs: Blobs, uploads: Uploads, refCount: (sha256: string) => number, graceMs: number, now = Date.now()) {
  const r = await collectGarbage(blobs, refCount, graceMs, now);
  return { ...r, uploads: await uploads.sweep(graceMs, () => namedBlobs(blobs), now) };
}
