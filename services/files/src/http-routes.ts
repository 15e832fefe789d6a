/**
 * The files service's HTTP routes (libs/protocol/src/http/files.ts), by route
 * name, as serveHttpRoutes takes them. One line per route.
 */
import type { HttpHandler } from "@colmena/protocol";
import { contentRoute } from "./http-content.ts";
import { shareRoute } from "./http-share.ts";
import type { Blobs } from "./blobs.ts";
import type { FileWrites } from "./file-writes.ts";
import type { FileQueries } from "./model.ts";
import type { ShareSigner } from "./share.ts";
import type { Uploads } from "./uploads.ts";

export interface FilesHttpDeps {
  blobs: Blobs;
  writes: FileWrites;
  queries: FileQueries;
  uploads: Uploads;
  share: ShareSigner;
}

export function filesHttpHandlers(d: FilesHttpDeps): Record<string, HttpHandler> {
  return {
    content: contentRoute(d),
    share: shareRoute(d),
  };
}
