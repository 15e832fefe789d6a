/**
 * What every way into the files service shares (the ops in api.ts, the HTTP
 * routes in http-*.ts): the caller's quota room, the readable version of a
 * path, and the commit of stored bytes as the path's next version (through
 * the entity log, then waiting for the read model so the writer reads its
 * own write).
 */
import { ColmenaError, notFound } from "@colmena/protocol";
import type { EntityLog } from "@colmena/runtime";
import type { FileEvent } from "./events.ts";
import type { FileQueries, VersionRow } from "./model.ts";
import { appendVersion } from "./path-log.ts";

export const DEFAULT_TYPE = "application/octet-stream";

export interface FileWritesDeps {
  pathLog: EntityLog<FileEvent>;
  queries: FileQueries;
  quotaBytes: number;
  waitForSeq: (seq: number) => Promise<void>;
}

/** `files.upload.commit`'s reply. */
export interface Committed {
  path: string;
  version: number;
  size: number;
  sha256: string;
}

export class FileWrites {
  constructor(private readonly d: FileWritesDeps) {}

  quotaError(): ColmenaError {
    return new ColmenaError("quota_exceeded", `over the storage quota of ${this.d.quotaBytes} bytes`);
  }

  /** Bytes the user may still store. */
  room(user: string): number {
    return this.d.quotaBytes - this.d.queries.usedBytes(user);
  }

  /** A readable version: the given one or the latest, never a deletion marker. */
  readable(user: string, path: string, v?: number): VersionRow {
    const row = this.d.queries.version(user, path, v);
    if (!row || row.deleted) throw notFound(v === undefined ? `no file ${path}` : `no version ${v} of ${path}`);
    return row;
  }

  /** Appends stored bytes as the path's next version; resolves once the read model has it. */
  async commit(user: string, path: string, stored: { size: number; sha256: string }, contentType: string, msgId?: string): Promise<{ seq: number; reply: Committed }> {
    const { seq, event } = await appendVersion(this.d.pathLog, user, path, { kind: "version", size: stored.size, sha256: stored.sha256, content_type: contentType }, { msgId });
    await this.d.waitForSeq(seq);
    return { seq, reply: { path, version: event.version, size: stored.size, sha256: stored.sha256 } };
  }
}
