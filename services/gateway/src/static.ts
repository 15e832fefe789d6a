/**
 * The web page (apps/web/dist) at `/` on the HTTP port: files of one folder,
 * GET and HEAD only, with their content types; Vite's hashed assets cached for
 * a year (their names change with their content), everything else revalidated;
 * no path may leave the folder. A path that names no file falls through to
 * the gateway's other routes (404 there).
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import type { ServerResponse } from "node:http";
import type { Logger } from "@colmena/runtime";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".wasm": "application/wasm",
};
/** Vite names built assets `name-<hash>.ext` under assets/. */
const HASHED = /^\/assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;
/** The page talks only to the gateway that served it: no CDN, no other origin. */
const CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Serves one request from the site, or resolves false when the path is not one of its files. */
export type StaticSite = (method: string, path: string, res: ServerResponse) => Promise<boolean>;

export function staticSite(dir: string, log: Logger): StaticSite {
  const root = resolve(dir);
  return async (method, path, res) => {
    if (method !== "GET" && method !== "HEAD") return false;
    const file = fileFor(root, path);
    if (!file) return false;
    let size: number;
    try {
      const st = await stat(file);
      if (!st.isFile()) return false;
      size = st.size;
    } catch {
      return false;
    }
    const type = TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
    res.writeHead(200, {
      "Content-Type": type,
      "Content-Length": size,
      "Cache-Control": HASHED.test(path) ? "public, max-age=31536000, immutable" : "no-cache",
      "X-Content-Type-Options": "nosniff",
      ...(type.startsWith("text/html") ? { "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer" } : {}),
    });
    if (method === "HEAD") {
      res.end();
      return true;
    }
    createReadStream(file)
      .on("error", (err) => { log.warn({ err, file }, "could not read a web page file"); res.destroy(); })
      .pipe(res);
    return true;
  };
}

/** The file a URL path names inside `root`, or null when it is malformed or would leave it. */
export function fileFor(root: string, path: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  const rel = decoded === "/" ? "/index.html" : decoded;
  const file = resolve(join(root, rel));
  return file.startsWith(root + sep) ? file : null;
}
