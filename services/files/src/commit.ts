/**
 * Writing a version: the one path from stored bytes to a new version of a
 * file, which `files.put`, `files.upload.commit`, the HTTP PUT and the last
 * byte of a tus upload all take, and the quota they all answer.
 */
import { ColmenaError, badRequest } from "@colmena/protocol";
import type { EntityLog } from "@colmena/runtime";
import type { Blobs, StoredBlob } from "./blobs.ts";
import type { FileEvent } from "./events.ts";
import type { FileQueries } from "./model.ts";
import { appendVersion } from "./path-log.ts";
import type { Uploads } from "./uploads.ts";

export interface VersionDeps {
  blobs: Blobs;
  uploads: Uploads;
  pathLog: EntityLog<FileEvent>;
  queries: FileQueries;
  quotaBytes: number;
  waitForSeq: (seq: number) => Promise<void>;
}

export interface Committed {
  seq: number;
  reply: { path: string; version: number; size: number; sha256: string };
}

export const quotaError = (d: VersionDeps) => new ColmenaError("quota_exceeded", `over the storage quota of ${d.quotaBytes} bytes`);

/** The bytes the user may still store. */
export const roomOf = (d: VersionDeps, user: string) => d.quotaBytes - d.queries.usedBytes(user);

/** Appends the version naming `stored` and waits until this instance's read model has it. */
export async function commitVersion(d: VersionDeps, user: string, path: string, stored: Pick<StoredBlob, "size" | "sha256">, contentType: string, msgId?: string): Promise<Committed> {
  const { seq, event } = await appendVersion(d.pathLog, user, path, { kind: "version", size: stored.size, sha256: stored.sha256, content_type: contentType }, { msgId });
  await d.waitForSeq(seq);
  return { seq, reply: { path, version: event.version, size: stored.size, sha256: stored.sha256 } };
}

/**
 * `files.upload.commit`: the upload's staged bytes into their blob (size,
 * quota and `sha256` checked; nothing kept on a mismatch), a new version with
 * the upload id as message id (a retried commit lands once), then the staging dropped.
 */
export async function commitUpload(d: VersionDeps, user: string, uploadId: string): Promise<Committed> {
  const { state } = await d.uploads.get(user, uploadId);
  if (state.received !== state.size) throw badRequest(`the upload has ${state.received} of its ${state.size} bytes`);
  const stored = await d.blobs.write(d.uploads.bytes(state), { maxBytes: Math.max(roomOf(d, user), 0), tooLarge: () => quotaError(d) });
  if (state.sha256 && stored.sha256 !== state.sha256) {
    if (!stored.deduplicated && d.queries.refCount(stored.sha256) === 0) await d.blobs.remove(stored.sha256);
    throw badRequest(`the upload's sha256 is ${stored.sha256}, not ${state.sha256}; nothing was stored`);
  }
  const committed = await commitVersion(d, user, state.path, stored, state.content_type, `commit.${state.upload_id}`);
  await d.uploads.remove(state.upload_id);
  return committed;
}
