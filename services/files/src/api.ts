/**
 * The files ops (protocol.md section 7) on a ServiceHost. Every op works on
 * the caller's own files only: the user id is part of every read-model query,
 * entity subject, upload record and share token.
 */
import { FILES_CHUNK_SIZE, FILES_INLINE_MAX, badRequest, filesOps, notFound } from "@colmena/protocol";
import { ServiceHost, callerOf, type EntityLog, type Logger } from "@colmena/runtime";
import type { NatsConnection } from "@nats-io/transport-node";
import { collect } from "./blob-store.ts";
import type { Blobs } from "./blobs.ts";
import { commitUpload } from "./commit.ts";
import type { FileEvent } from "./events.ts";
import { DEFAULT_TYPE, FileWrites } from "./file-writes.ts";
import type { FileQueries } from "./model.ts";
import { appendVersion } from "./path-log.ts";
import type { ShareSigner } from "./share.ts";
import { newUploadId, type Uploads } from "./uploads.ts";

export interface FilesApiDeps {
  nc: NatsConnection;
  log: Logger;
  blobs: Blobs;
  uploads: Uploads;
  pathLog: EntityLog<FileEvent>;
  queries: FileQueries;
  share: ShareSigner;
  quotaBytes: number;
  waitForSeq: (seq: number) => Promise<void>;
}

const DEFAULT_SHARE_TTL_S = 3600;

export async function startFilesApi(d: FilesApiDeps, version: string): Promise<ServiceHost> {
  const { queries, blobs, uploads } = d;
  const writes = new FileWrites(d);
  const quotaError = () => writes.quotaError();
  const room = (user: string) => writes.room(user);
  const readable = (user: string, path: string, v?: number) => writes.readable(user, path, v);
  const commit = (user: string, path: string, stored: { size: number; sha256: string }, contentType: string, msgId?: string) => writes.commit(user, path, stored, contentType, msgId);

  const host = await ServiceHost.start({ nc: d.nc, name: "files", version, log: d.log, waitForSeq: d.waitForSeq });
  host
    .handle(filesOps["files.put"], async (req, ctx) => {
      const user = callerOf(ctx).id;
      const bytes = req.content;
      if (bytes.length > FILES_INLINE_MAX) throw badRequest(`files.put takes at most ${FILES_INLINE_MAX} bytes; use files.upload.*`);
      if (bytes.length > room(user)) throw quotaError();
      const stored = await blobs.write((async function* () { yield bytes; })());
      const { seq, reply } = await commit(user, req.path, stored, req.content_type ?? DEFAULT_TYPE);
      ctx.setSeq(seq);
      return reply;
    })
    .handle(filesOps["files.get"], async (req, ctx) => {
      const row = readable(callerOf(ctx).id, req.path, req.version);
      if (row.size > FILES_INLINE_MAX) throw badRequest(`${req.path} is ${row.size} bytes, over the ${FILES_INLINE_MAX} files.get gives; read it with files.read`);
      const content = await collect(blobs.read(row.sha256));
      return { path: row.path, version: row.version, size: row.size, sha256: row.sha256, content_type: row.content_type, content };
    })
    .handle(filesOps["files.read"], async (req, ctx) => {
      const row = readable(callerOf(ctx).id, req.path, req.version);
      const end = Math.min(req.offset + req.length, row.size);
      const data = req.offset < row.size ? await collect(blobs.read(row.sha256, req.offset, end)) : Buffer.alloc(0);
      return { data, eof: end >= row.size };
    })
    .handle(filesOps["files.stat"], async (req, ctx) => {
      const user = callerOf(ctx).id;
      const row = readable(user, req.path, req.version);
      return { path: row.path, version: row.version, size: row.size, sha256: row.sha256, content_type: row.content_type, created_at: row.created_at, versions: queries.versions(user, req.path).length };
    })
    .handle(filesOps["files.list"], async (req, ctx) => {
      const limit = req.limit ?? 100;
      const after = req.cursor ? Buffer.from(req.cursor, "base64url").toString("utf8") : "";
      const prefix = req.prefix?.startsWith("/") ? req.prefix.slice(1) : (req.prefix ?? "");
      const rows = queries.list(callerOf(ctx).id, prefix, after, limit + 1);
      const page = rows.slice(0, limit);
      const files = page.map((r) => ({ path: r.path, version: r.version, size: r.size, sha256: r.sha256, updated_at: r.created_at }));
      return rows.length > limit ? { files, next: Buffer.from(page[page.length - 1].path).toString("base64url") } : { files };
    })
    .handle(filesOps["files.versions"], async (req, ctx) => {
      const rows = queries.versions(callerOf(ctx).id, req.path);
      if (rows.length === 0) throw notFound(`no file ${req.path}`);
      return { versions: rows.map((r) => ({ version: r.version, size: r.size, sha256: r.sha256, created_at: r.created_at, deleted: r.deleted === 1 })) };
    })
    .handle(filesOps["files.delete"], async (req, ctx) => {
      const { seq, event } = await appendVersion(d.pathLog, callerOf(ctx).id, req.path, { kind: "deleted" }, { mustExist: true });
      await d.waitForSeq(seq);
      ctx.setSeq(seq);
      return { path: req.path, version: event.version };
    })
    .handle(filesOps["files.share"], async (req, ctx) => {
      const user = callerOf(ctx).id;
      const row = readable(user, req.path, req.version);
      const exp = Math.floor(Date.now() / 1000) + (req.ttl_s ?? DEFAULT_SHARE_TTL_S);
      return { url: `/v1/share/${d.share.sign({ u: user, p: row.path, v: row.version, exp })}`, expires_at: exp * 1000 };
    })
    .handle(filesOps["files.upload.begin"], async (req, ctx) => {
      const user = callerOf(ctx).id;
      if (req.size > room(user)) throw quotaError();
      const state = await uploads.begin({ upload_id: newUploadId(), user, path: req.path, size: req.size, sha256: req.sha256, content_type: req.content_type ?? DEFAULT_TYPE, created_at: Date.now() });
      return { upload_id: state.upload_id, chunk_size: FILES_CHUNK_SIZE };
    })
    .handle(filesOps["files.upload.chunk"], async (req, ctx) => {
      const data = req.data;
      if (data.length > FILES_CHUNK_SIZE) throw badRequest(`a chunk carries at most ${FILES_CHUNK_SIZE} bytes`);
      return { received: await uploads.chunk(callerOf(ctx).id, req.upload_id, req.offset, data) };
    })
    .handle(filesOps["files.upload.status"], async (req, ctx) => {
      const { state } = await uploads.get(callerOf(ctx).id, req.upload_id);
      return { upload_id: state.upload_id, path: state.path, size: state.size, received: state.received };
    })
    .handle(filesOps["files.upload.commit"], async (req, ctx) => {
      const { seq, reply } = await commitUpload({ blobs, uploads, queries, writes }, callerOf(ctx).id, req.upload_id);
      ctx.setSeq(seq);
      return reply;
    })
    .handle(filesOps["files.upload.abort"], async (req, ctx) => {
      const { state } = await uploads.get(callerOf(ctx).id, req.upload_id);
      await uploads.remove(state);
      return {};
    });
  return host;
}
