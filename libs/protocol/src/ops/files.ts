/**
 * Ops of the `files` service (protocol.md section 7). Binary fields
 * (`content`, `data`) are raw bytes from MessagePack clients and base64 from
 * JSON ones (binary.ts); paths are
 * normalised (a leading `/` dropped) and every hostile form is `bad_request`.
 */
import { z } from "zod";
import { binaryField, binaryReply, utf8Length } from "../binary.ts";
import { defineOp } from "./define.ts";

/** The most content `files.put` takes and `files.get` gives; larger files go through uploads and `files.read`. */
export const FILES_INLINE_MAX = 768 * 1024;
/** The most bytes one `files.read` answers. */
export const FILES_READ_MAX = 768 * 1024;
/** The most bytes one `files.upload.chunk` carries (`chunk_size`). */
export const FILES_CHUNK_SIZE = 512 * 1024;
/** Share links live at most 7 days. */
export const FILES_SHARE_TTL_MAX_S = 7 * 24 * 3600;

/** Why a path is refused, or null when it is a valid (already normalised) path. */
export function pathProblem(path: string): string | null {
  const bytes = utf8Length(path);
  if (bytes < 1 || bytes > 1024) return "a path is 1-1024 bytes";
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(path)) return "a path is UTF-8 text";
  if (/[\u0000-\u001f\u007f-\u009f]/u.test(path)) return "a path has no NUL or control character";
  for (const seg of path.split("/")) {
    if (seg === "") return "a path has no empty segment";
    if (seg === "." || seg === "..") return "a path has no . or .. segment";
  }
  return null;
}

/** A file path: a leading `/` is ignored; anything else hostile is refused. */
export const filePath = z.string().transform((raw, ctx) => {
  const path = raw.startsWith("/") ? raw.slice(1) : raw;
  const problem = pathProblem(path);
  if (problem) {
    ctx.addIssue({ code: "custom", message: problem });
    return z.NEVER;
  }
  return path;
});

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits");
const version = z.number().int().min(1);
const contentType = z.string().min(1).max(255);
const uploadId = z.string().regex(/^u_[0-9a-z-]{8,64}$/, "an upload id");
const stored = z.object({ path: z.string(), version: z.number().int(), size: z.number().int(), sha256: z.string() });

export const filesOps = {
  "files.put": defineOp({
    op: "files.put",
    service: "files",
    access: "user",
    summary: "Writes a file of up to 768 KiB as a new version of its path.",
    request: z.strictObject({ path: filePath, content: binaryField(FILES_INLINE_MAX), content_type: contentType.optional() }),
    reply: stored,
  }),
  "files.get": defineOp({
    op: "files.get",
    service: "files",
    access: "user",
    idempotent: true, // a read
    summary: "A file of up to 768 KiB (its latest version, or `version`); a larger one is `bad_request` naming `files.read`.",
    request: z.strictObject({ path: filePath, version: version.optional() }),
    reply: stored.extend({ content_type: z.string(), content: binaryReply }),
  }),
  "files.upload.begin": defineOp({
    op: "files.upload.begin",
    service: "files",
    access: "user",
    summary: "Begins a resumable upload of `size` bytes; chunks of at most `chunk_size` follow at `offset == received`.",
    request: z.strictObject({ path: filePath, size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), sha256: sha256Hex.optional(), content_type: contentType.optional() }),
    reply: z.object({ upload_id: z.string(), chunk_size: z.number().int() }),
  }),
  "files.upload.chunk": defineOp({
    op: "files.upload.chunk",
    service: "files",
    access: "user",
    summary: "Appends a chunk at `offset`, which must be the bytes received so far (else `conflict` with `details.received`), or the end of a chunk of the same upload that the replica taking it is still storing: such a chunk goes on from that one and is answered after it, so a client may keep a few chunks in flight (if one fails, those sent after it fail too, `conflict` or its error, and the client goes on from `files.upload.status`).",
    request: z.strictObject({ upload_id: uploadId, offset: z.number().int().min(0), data: binaryField(FILES_CHUNK_SIZE) }),
    reply: z.object({ received: z.number().int() }),
  }),
  "files.upload.status": defineOp({
    op: "files.upload.status",
    service: "files",
    access: "user",
    idempotent: true, // a read
    summary: "Where an upload stands, for resuming it on any gateway.",
    request: z.strictObject({ upload_id: uploadId }),
    reply: z.object({ upload_id: z.string(), path: z.string(), size: z.number().int(), received: z.number().int() }),
  }),
  "files.upload.commit": defineOp({
    op: "files.upload.commit",
    service: "files",
    access: "user",
    summary: "Ends an upload as a new version of its path, once every byte arrived and the `sha256` (when given) matches.",
    request: z.strictObject({ upload_id: uploadId }),
    reply: stored,
  }),
  "files.upload.abort": defineOp({
    op: "files.upload.abort",
    service: "files",
    access: "user",
    summary: "Abandons an upload and what it stored.",
    request: z.strictObject({ upload_id: uploadId }),
    reply: z.object({}),
  }),
  "files.read": defineOp({
    op: "files.read",
    service: "files",
    access: "user",
    idempotent: true, // a read
    summary: "Up to 768 KiB of a file from `offset`; `eof` when the file ends within them.",
    request: z.strictObject({ path: filePath, version: version.optional(), offset: z.number().int().min(0), length: z.number().int().min(0).max(FILES_READ_MAX) }),
    reply: z.object({ data: binaryReply, eof: z.boolean() }),
  }),
  "files.stat": defineOp({
    op: "files.stat",
    service: "files",
    access: "user",
    idempotent: true, // a read
    summary: "A file's metadata (latest version, or `version`) and how many versions it has.",
    request: z.strictObject({ path: filePath, version: version.optional() }),
    reply: stored.extend({ content_type: z.string(), created_at: z.number().int(), versions: z.number().int() }),
  }),
  "files.list": defineOp({
    op: "files.list",
    service: "files",
    access: "user",
    idempotent: true, // a read
    summary: "The caller's files (not deleted), by path; `next` is the `cursor` of the next page.",
    request: z.strictObject({ prefix: z.string().max(1024).optional(), limit: z.number().int().min(1).max(1000).optional(), cursor: z.string().max(2048).optional() }),
    reply: z.object({ files: z.array(stored.extend({ updated_at: z.number().int() })), next: z.string().optional() }),
  }),
  "files.versions": defineOp({
    op: "files.versions",
    service: "files",
    access: "user",
    idempotent: true, // a read
    summary: "Every version of a path, deletion markers included.",
    request: z.strictObject({ path: filePath }),
    reply: z.object({ versions: z.array(z.object({ version: z.number().int(), size: z.number().int(), sha256: z.string(), created_at: z.number().int(), deleted: z.boolean() })) }),
  }),
  "files.delete": defineOp({
    op: "files.delete",
    service: "files",
    access: "user",
    summary: "Writes a deletion marker as a new version; older versions stay readable.",
    request: z.strictObject({ path: filePath }),
    reply: z.object({ path: z.string(), version: z.number().int() }),
  }),
  "files.share": defineOp({
    op: "files.share",
    service: "files",
    access: "user",
    summary: "A signed, expiring download URL for one version of one file (`/v1/share/<token>`), void once the file is deleted.",
    request: z.strictObject({ path: filePath, version: version.optional(), ttl_s: z.number().int().min(1).max(FILES_SHARE_TTL_MAX_S).optional() }),
    reply: z.object({ url: z.string(), expires_at: z.number().int() }),
  }),
};
