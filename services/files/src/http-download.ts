/**
 * A stored version as an HTTP answer, for GET and HEAD of `/v1/files/<path>`
 * and `/v1/share/<token>`: ETag (strong, the content's sha256),
 * If-None-Match (304), a single Range (206 with Content-Range; 416 past the
 * end), If-Range, Content-Type, Content-Length, Accept-Ranges. The body
 * decrypts only the segments the range covers, as the client reads. The
 * first segment is opened before the head goes out, so a tampered start is a
 * 500 with no byte of it; a later tampered segment cuts the connection.
 */
import { ColmenaError, type HttpAnswer, type HttpCall } from "@colmena/protocol";
import { errorAnswer } from "@colmena/runtime";
import type { Blobs } from "./blobs.ts";
import type { VersionRow } from "./model.ts";
import { noneMatch, parseRange } from "./http-range.ts";

/** Answers a version of a file; `extra` goes on every answer (Cache-Control, Content-Disposition). */
export async function downloadAnswer(blobs: Blobs, call: HttpCall, row: VersionRow, extra: Record<string, string> = {}): Promise<HttpAnswer> {
  const etag = `"${row.sha256}"`;
  const base: Record<string, string> = {
    ...extra,
    ETag: etag,
    "Accept-Ranges": "bytes",
    "Last-Modified": new Date(row.created_at).toUTCString(),
    "Colmena-Version": String(row.version),
  };
  if (noneMatch(call.headers["if-none-match"], etag)) return { status: 304, headers: base };
  const ifRange = call.headers["if-range"];
  // A Range under an If-Range that names another version is ignored: the whole file comes.
  const ask = parseRange(ifRange !== undefined && ifRange.trim() !== etag ? undefined : call.headers["range"], row.size);
  if (ask.kind === "unsatisfiable") {
    const a = errorAnswer(new ColmenaError("bad_request", `the range is past the end of the file (${row.size} bytes)`), { ...base, "Content-Range": `bytes */${row.size}` });
    return { ...a, status: 416 };
  }
  const headers: Record<string, string> = { ...base, "Content-Type": row.content_type || "application/octet-stream" };
  const [start, end, status] = ask.kind === "span" ? [ask.span.first, ask.span.last + 1, 206] : [0, row.size, 200];
  headers["Content-Length"] = String(end - start);
  if (ask.kind === "span") headers["Content-Range"] = `bytes ${start}-${end - 1}/${row.size}`;
  if (call.method === "HEAD" || end === start) return { status, headers };
  return { status, headers, body: await opened(blobs.read(row.sha256, start, end)) };
}

/** The stream with its first chunk already read (and so checked): a failure there throws now, before any head. */
async function opened(body: AsyncIterable<Buffer>): Promise<AsyncIterable<Buffer>> {
  const it = body[Symbol.asyncIterator]();
  const first = await it.next();
  return (async function* () {
    try {
      if (first.done) return;
      yield first.value;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    } finally {
      await it.return?.();
    }
  })();
}
