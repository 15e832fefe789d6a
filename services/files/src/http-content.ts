/**
 * `PUT /v1/files/<path>` and `GET`/`HEAD /v1/files/<path>[?version=N]`
 * (protocol.md section 7), the caller's own files only. PUT streams the body
 * straight into a content-addressed blob (blobs.ts: hashed and sealed as it
 * arrives, never held whole), stops at the quota, and commits the version as
 * `files.upload.commit` does, answering its JSON. GET streams the version
 * (http-download.ts).
 */
import { ColmenaError, type HttpHandler } from "@colmena/protocol";
import type { Blobs } from "./blobs.ts";
import { DEFAULT_TYPE, type FileWrites } from "./file-writes.ts";
import { downloadAnswer } from "./http-download.ts";
import { decodedPath, versionParam } from "./http-paths.ts";

export interface ContentRouteDeps {
  blobs: Blobs;
  writes: FileWrites;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({ status, headers: { ...headers, "Content-Type": "application/json", "Cache-Control": "no-store" }, body: JSON.stringify(body) });

export function contentRoute(d: ContentRouteDeps): HttpHandler {
  return async (call) => {
    const user = call.user?.id;
    if (!user) throw new ColmenaError("unauthorized", "not logged in");
    const path = decodedPath(call.path);
    if (call.method === "PUT") {
      const type = call.headers["content-type"] ?? DEFAULT_TYPE;
      if (type.length > 255) throw new ColmenaError("bad_request", "content-type is at most 255 characters");
      const room = Math.max(d.writes.room(user), 0);
      const declared = call.headers["content-length"];
      if (declared !== undefined && Number(declared) > room) throw d.writes.quotaError();
      const stored = await d.blobs.write(call.body, { maxBytes: room, tooLarge: () => d.writes.quotaError() });
      if (declared !== undefined && Number(declared) !== stored.size) throw new ColmenaError("bad_request", `the body has ${stored.size} bytes, not the ${declared} of its Content-Length`);
      const { reply } = await d.writes.commit(user, path, stored, type);
      return json(201, reply, { ETag: `"${reply.sha256}"`, "Colmena-Version": String(reply.version) });
    }
    const row = d.writes.readable(user, path, versionParam(call.query));
    return downloadAnswer(d.blobs, call, row, { "Cache-Control": "private, no-cache" });
  };
}
