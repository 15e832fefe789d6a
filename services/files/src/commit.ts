/**
 * `files.upload.commit`, which the op and the last byte of a tus upload both
 * take: the upload's staged bytes into their blob (size, quota and `sha256`
 * checked; nothing kept on a mismatch), a new version through FileWrites with
 * the upload id as message id (a retried commit lands once), then the staging dropped.
 */
import { badRequest } from "@colmena/protocol";
import type { Blobs } from "./blobs.ts";
import type { Committed, FileWrites } from "./file-writes.ts";
import type { FileQueries } from "./model.ts";
import type { Uploads } from "./uploads.ts";

export interface UploadCommitDeps {
  blobs: Blobs;
  uploads: Uploads;
  queries: FileQueries;
  writes: FileWrites;
}

export async function commitUpload(d: UploadCommitDeps, user: string, uploadId: string): Promise<{ seq: number; reply: Committed }> {
  const { state } = await d.uploads.get(user, uploadId);
  if (state.received !== state.size) throw badRequest(`the upload has ${state.received} of its ${state.size} bytes`);
  const stored = await d.blobs.write(d.uploads.bytes(state), { maxBytes: Math.max(d.writes.room(user), 0), tooLarge: () => d.writes.quotaError() });
  if (state.sha256 && stored.sha256 !== state.sha256) {
    if (!stored.deduplicated && d.queries.refCount(stored.sha256) === 0) await d.blobs.remove(stored.sha256);
    throw badRequest(`the upload's sha256 is ${stored.sha256}, not ${state.sha256}; nothing was stored`);
  }
  const committed = await d.writes.commit(user, state.path, stored, state.content_type, `commit.${state.upload_id}`);
  await d.uploads.remove(state.upload_id);
  return committed;
}
