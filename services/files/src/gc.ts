/**
 * The blob garbage collector. A blob's reference count is the number of file
 * versions naming its hash (the read model counts them); a blob no version
 * names, and pieces no manifest names, are removed once older than the grace
 * period, which covers a write whose version is not yet in the read model
 * (blobs are written before their version's event).
 */
import { blobIdTime, type Blobs } from "./blobs.ts";

export interface GcResult {
  blobs: number;
  orphanPieces: number;
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
