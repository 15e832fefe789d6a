/**
 * The peer of the files benchmark's tus rows: @tus/server with @tus/file-store,
 * the Node reference tus server, storing uploads as plain files in a
 * temporary directory (no encryption, no hashing, no metadata store beyond
 * its JSON sidecars). Runs as a child process of its own, on a free port.
 */
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";
import { serveParent } from "../lib/child.ts";

const directory = mkdtempSync(join(tmpdir(), "bench-tus-peer-"));
const tus = new Server({ path: "/files", datastore: new FileStore({ directory }) });
const http = createServer((req, res) => void tus.handle(req, res));
await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
const port = (http.address() as { port: number }).port;

serveParent({ url: `http://127.0.0.1:${port}/files/`, pid: process.pid }, {
  stop: async () => {
    await new Promise<void>((resolve) => http.close(() => resolve()));
    rmSync(directory, { recursive: true, force: true });
  },
});
