/**
 * `files.upload.commit`, which the op and the last byte of a tus upload both
 * take. The upload's parts are already the blob's (uploads.ts), so the commit
 * checks size, quota and `sha256` (the running hash, reading back only what
 * another replica took), names the parts in the blob's manifest (or drops
 * them when that content is stored already), appends the version with the
 * upload id as message id (a retried commit lands once), and forgets the
 * upload. A mismatch is `bad_request` with nothing stored; the upload stays
 * until aborted or expired. Every step may run again: a commit cut short
 * (a crash, a timeout) is finished by the next one, on any replica.
 */
import { badRequest } from "@colmena/protocol";
import type { Blobs } from "./blobs.ts";
import type { Committed, FileWrites } from "./file-writes.ts";
import type { FileQueries } from "./model.ts";
import { partBase, type Uploads } from "./uploads.ts";

export interface UploadCommitDeps {
  blobs: Blobs;
  uploads: Uploads;
  queries: FileQueries;
  writes: FileWrites;
}

export async function commitUpload(d: UploadCommitDeps, user: string, uploadId: string): Promise<{ seq: number; reply: Committed }> {
  const { state } = await d.uploads.get(user, uploadId);
  if (state.received !== state.size) throw badRequest(`the upload has ${state.received} of its ${state.size} bytes`);
  if (state.size > Math.max(d.writes.room(user), 0)) throw d.writes.quotaError();
  const sha256 = await d.uploads.sha256(state);
  if (state.sha256 && sha256 !== state.sha256) throw badRequest(`the upload's sha256 is ${sha256}, not ${state.sha256}; nothing was stored`);
  const base = partBase(state.upload_id);
  const stored = await d.blobs.adopt({ blob: state.upload_id, base, parts: state.parts, size: state.size, sha256, key: d.uploads.dataKey(state) });
  const committed = await d.writes.commit(user, state.path, stored, state.content_type, `commit.${state.upload_id}`);
  if (stored.deduplicated) await d.uploads.remove(state);
  else await d.uploads.forget(state.upload_id);
  return committed;
}
