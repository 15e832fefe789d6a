/**
 * `GET`/`HEAD /v1/share/<token>`: the one version a `files.share` token names
 * (share.ts), with no login, while the token is valid and unexpired and the
 * file has not been deleted since (a deletion marker after that version
 * revokes the link). Every refusal is the same `not_found`, telling nothing.
 */
import { ColmenaError, type HttpHandler } from "@colmena/protocol";
import type { Blobs } from "./blobs.ts";
import { downloadAnswer } from "./http-download.ts";
import type { FileQueries } from "./model.ts";
import type { ShareSigner } from "./share.ts";

export interface ShareRouteDeps {
  blobs: Blobs;
  queries: FileQueries;
  share: ShareSigner;
}

const gone = () => new ColmenaError("not_found", "no such shared file (the link is invalid, expired, or the file was deleted)");

/** `inline; filename*=` with the path's last segment, percent-encoded (RFC 6266). */
const disposition = (path: string) => `inline; filename*=UTF-8''${encodeURIComponent(path.split("/").pop() ?? "file")}`;

export function shareRoute(d: ShareRouteDeps): HttpHandler {
  return async (call) => {
    if (call.path.length > 4096) throw gone();
    const claims = d.share.verify(call.path);
    if (!claims) throw gone();
    const versions = d.queries.versions(claims.u, claims.p);
    const row = versions.find((v) => v.version === claims.v);
    if (!row || row.deleted || versions.some((v) => v.version > claims.v && v.deleted)) throw gone();
    return downloadAnswer(d.blobs, call, row, { "Cache-Control": "private, no-cache", "Content-Disposition": disposition(row.path) });
  };
}
