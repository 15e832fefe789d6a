/**
 * tus 1.0.0 at `/v1/tus/` (protocol.md section 7): creation,
 * creation-with-upload, termination, checksum (sha256) and expiration, on the
 * same uploads as `files.upload.*` (uploads.ts), so an upload's id works with
 * `files.upload.status` and a client may go on over either protocol, through
 * any gateway and any replica. A PATCH body is taken in parts of at most
 * `TUS_PART` bytes, each sealed and stored in the blob store as it fills
 * (the next one read while the last one is stored); without
 * `Upload-Checksum` each part counts as soon as it is stored (a dropped
 * connection keeps what arrived), with one the parts count only once the
 * whole body's digest matched (else 460, and they are dropped). The last byte
 * commits the upload as `files.upload.commit` does.
 */
import { createHash } from "node:crypto";
import { ColmenaError, filePath, statusOf, type HttpAnswer, type HttpCall, type HttpHandler } from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import { commitUpload, type UploadCommitDeps } from "./commit.ts";
import { DEFAULT_TYPE } from "./file-writes.ts";
import { CHECKSUM_MISMATCH, TUS_CONTENT_TYPE, TUS_EXTENSIONS, TUS_VERSION, httpDate, intHeader, parseChecksum, parseMetadata, tusError } from "./tus-wire.ts";
import { newUploadId, type Append, type UploadState } from "./uploads.ts";

/** The most bytes of a PATCH held in memory before they are stored as one part. */
export const TUS_PART = 4 * 1024 * 1024;
const UPLOAD_ID = /^u_[0-9a-z-]{8,64}$/u;

export interface TusDeps extends UploadCommitDeps {
  log: Logger;
  /** The per-user quota, also `Tus-Max-Size`. */
  quotaBytes: number;
}

type User = { id: string };

/** How long a request waits for an earlier PATCH on its upload to finish here. */
const SETTLE_WAIT_MS = 5_000;

export function tusHandler(d: TusDeps): HttpHandler {
  const maxSize = () => d.quotaBytes;
  const tooLarge = (what: string) => tusError(413, "quota_exceeded", what);
  /**
   * PATCHes under way here, by upload. A PATCH whose connection was cut still
   * stages what reached it, so a HEAD or PATCH on the same upload waits for it
   * first and never answers (or checks) an offset that is about to move.
   * Only this replica's: another replica's cut PATCH is not waited for.
   * Waits are bounded by SETTLE_WAIT_MS.
   */
  const receiving = new Map<string, Promise<unknown>>();
  async function afterReceiving(id: string): Promise<void> {
    const under = receiving.get(id);
    if (!under) return;
    // A live PATCH from another client may run long: wait for a cut one to settle, not for that.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([under, new Promise((r) => (timer = setTimeout(r, SETTLE_WAIT_MS)))]);
    clearTimeout(timer);
  }
  function receivingInto<T>(id: string, work: () => Promise<T>): Promise<T> {
    const done = afterReceiving(id).then(work);
    // Only its end matters to those waiting (its error goes to its own caller).
    const tracked: Promise<unknown> = done.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (receiving.get(id) === tracked) receiving.delete(id);
    });
    receiving.set(id, tracked);
    return done;
  }

  /** Reads the body into the upload; answers the upload's offset after it (committed when it was the last byte). */
  async function receive(call: HttpCall, append: Append, checksum?: Buffer): Promise<HttpAnswer | number> {
    const hash = checksum ? createHash("sha256") : null;
    let held: Buffer[] = [];
    let heldBytes = 0;
    const stage = async () => {
      if (heldBytes === 0) return;
      const part = Buffer.concat(held, heldBytes);
      held = [];
      heldBytes = 0;
      await append.add(part);
      // The parts before this one are stored: count them while this one is stored and the next one read.
      if (!hash) await append.countStored();
    };
    let broken = false;
    const body = call.body[Symbol.asyncIterator]();
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await body.next();
        } catch {
          broken = true; // the client went away mid-body
          break;
        }
        if (next.done) break;
        const chunk = next.value;
        if (append.offset + heldBytes + chunk.length > append.upload.size) {
          await append.discard();
          return tooLarge(`the body goes past the upload's length of ${append.upload.size} bytes`);
        }
        hash?.update(chunk);
        held.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        heldBytes += chunk.length;
        if (heldBytes >= TUS_PART) await stage();
      }
      broken ||= call.signal.aborted;
      // A cut body with a checksum cannot be verified: none of it counts.
      if (hash && broken) {
        await append.discard();
        return tusError(400, "bad_request", "the body was cut short");
      }
      await stage();
      if (hash && !hash.digest().equals(checksum!)) {
        await append.discard();
        return tusError(CHECKSUM_MISMATCH, "bad_request", "the body does not match its Upload-Checksum; nothing of it was stored");
      }
      return await append.commit();
    } catch (err) {
      await append.discard();
      throw err;
    }
  }

  /** After bytes arrived: the last one commits the upload. */
  async function settle(user: User, state: UploadState, offset: number): Promise<void> {
    if (offset === state.size) await commitUpload(d, user.id, state.upload_id);
  }

  async function create(call: HttpCall, user: User): Promise<HttpAnswer> {
    if (call.path !== "") return tusError(404, "not_found", "POST creates uploads at /v1/tus/");
    const size = intHeader(call.headers["upload-length"]);
    if (size === null) {
      const why = call.headers["upload-defer-length"] ? "Upload-Defer-Length is not supported: send Upload-Length" : "Upload-Length (a non-negative integer) is required";
      return tusError(400, "bad_request", why);
    }
    if (size > maxSize()) return tooLarge(`Upload-Length is over Tus-Max-Size (${maxSize()} bytes)`);
    if (size > d.writes.room(user.id)) return tooLarge(d.writes.quotaError().message);
    const meta = parseMetadata(call.headers["upload-metadata"]);
    if (!meta) return tusError(400, "bad_request", "Upload-Metadata is comma-separated `key base64value` pairs");
    const named = filePath.safeParse(meta.get("path") ?? meta.get("filename") ?? "");
    if (!named.success) return tusError(400, "bad_request", `Upload-Metadata names no valid path (path or filename): ${named.error.issues[0]?.message ?? ""}`);
    const type = meta.get("content_type") || meta.get("filetype") || DEFAULT_TYPE;
    const withBody = call.headers["content-type"] === TUS_CONTENT_TYPE;
    if (!withBody && Number(call.headers["content-length"] ?? 0) > 0) return tusError(415, "bad_request", `a body sent with the creation is Content-Type: ${TUS_CONTENT_TYPE}`);
    const state = await d.uploads.begin({ upload_id: newUploadId(), user: user.id, path: named.data, size, content_type: type.length <= 255 ? type : DEFAULT_TYPE, created_at: Date.now() });
    const location = { Location: `/v1/tus/${state.upload_id}` };
    let offset = 0;
    if (withBody) {
      const got = await receive(call, await d.uploads.append(user.id, state.upload_id, 0));
      if (typeof got !== "number") return { ...got, headers: { ...got.headers, ...location } };
      offset = got;
    }
    await settle(user, state, offset);
    return { status: 201, headers: { ...location, "Upload-Offset": String(offset), "Upload-Expires": httpDate(Date.now() + d.uploads.ttlMs) } };
  }

  async function append(call: HttpCall, user: User, id: string): Promise<HttpAnswer> {
    if (call.headers["content-type"] !== TUS_CONTENT_TYPE) return tusError(415, "bad_request", `PATCH takes Content-Type: ${TUS_CONTENT_TYPE}`);
    const offset = intHeader(call.headers["upload-offset"]);
    if (offset === null) return tusError(400, "bad_request", "Upload-Offset (a non-negative integer) is required");
    let checksum: Buffer | undefined;
    if (call.headers["upload-checksum"] !== undefined) {
      const parsed = parseChecksum(call.headers["upload-checksum"]);
      if ("problem" in parsed) return tusError(400, "bad_request", parsed.problem);
      checksum = parsed.digest;
    }
    return receivingInto(id, async () => {
      const into = await d.uploads.append(user.id, id, offset);
      const length = intHeader(call.headers["content-length"]);
      if (length !== null && offset + length > into.upload.size) return tooLarge(`the body goes past the upload's length of ${into.upload.size} bytes`);
      const got = await receive(call, into, checksum);
      if (typeof got !== "number") return got;
      await settle(user, into.upload, got);
      return { status: 204, headers: { "Upload-Offset": String(got), "Upload-Expires": httpDate(Date.now() + d.uploads.ttlMs) } };
    });
  }

  async function head(user: User, id: string): Promise<HttpAnswer> {
    await afterReceiving(id);
    const { state, expiresAt } = await d.uploads.get(user.id, id);
    return { status: 200, headers: { "Upload-Offset": String(state.received), "Upload-Length": String(state.size), "Cache-Control": "no-store", "Upload-Expires": httpDate(expiresAt) } };
  }

  async function terminate(user: User, id: string): Promise<HttpAnswer> {
    const { state } = await d.uploads.get(user.id, id);
    await d.uploads.remove(state);
    return { status: 204 };
  }

  async function route(call: HttpCall): Promise<HttpAnswer> {
    if (call.method === "OPTIONS") {
      return { status: 204, headers: { "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS, "Tus-Checksum-Algorithm": "sha256", "Tus-Max-Size": String(maxSize()) } };
    }
    if (call.headers["tus-resumable"] !== TUS_VERSION) return tusError(412, "bad_request", `this server speaks tus ${TUS_VERSION} (Tus-Resumable)`, { "Tus-Version": TUS_VERSION });
    if (!call.user) return tusError(401, "unauthorized", "tus requests need Authorization: Bearer <access_token>");
    if (call.method === "POST") return create(call, call.user);
    const id = call.path;
    if (!UPLOAD_ID.test(id)) return tusError(404, "not_found", "no such upload");
    if (call.method === "HEAD") return head(call.user, id);
    if (call.method === "PATCH") return append(call, call.user, id);
    if (call.method === "DELETE") return terminate(call.user, id);
    return tusError(405, "bad_request", `tus takes no ${call.method}`);
  }

  return async (call) => {
    try {
      return await route(call);
    } catch (err) {
      if (!(err instanceof ColmenaError) || err.code === "internal") d.log.error({ err, route: "tus", method: call.method }, "tus request failed");
      const e = err instanceof ColmenaError ? err : new ColmenaError("internal", "the tus request failed");
      const status = e.code === "quota_exceeded" ? 413 : statusOf(e.code);
      return tusError(status, e.code, e.message);
    }
  };
}
