/**
 * `colmena files ...`: put, get, ls, versions, rm and share the logged-in
 * user's files (protocol.md section 7). `put` uploads in chunks through
 * `files.upload.*` with a progress bar, and remembers the upload in
 * `$COLMENA_HOME/uploads.json`, so running it again after an interruption
 * goes on from the bytes the service has (`files.upload.status`). Off a
 * terminal the progress is plain lines.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync, createWriteStream } from "node:fs";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { SingleBar } from "cli-progress";
import { FILES_CHUNK_SIZE, FILES_READ_MAX } from "@colmena/protocol";
import { colmenaHome } from "@colmena/runtime";
import { sendUploadChunks, type ColmenaClient } from "@colmena/client";
import { flag, UsageError, type Args } from "../args.ts";
import { withClient } from "../connect.ts";
import { printJson, type Command } from "./command.ts";

const USAGE = ["put <local file> <path>", "get <path> <local file> [--version=N]", "ls [<prefix>]", "versions <path>", "rm <path>", "share <path> [--version=N] [--ttl=S]"].join("\n       colmena files ");

function need(args: Args, index: number, what: string): string {
  const v = args.positionals[index];
  if (v === undefined) throw new UsageError(`${what} is required`);
  return v;
}
const intFlag = (args: Args, name: string) => (flag(args, name) === undefined ? undefined : Number(flag(args, name)));

const uploadsFile = () => join(colmenaHome(), "uploads.json");
const readUploads = (): Record<string, string> => (existsSync(uploadsFile()) ? JSON.parse(readFileSync(uploadsFile(), "utf8")) : {});
function rememberUpload(key: string, id: string | undefined): void {
  const all = readUploads();
  if (id) all[key] = id;
  else delete all[key];
  writeFileSync(uploadsFile(), JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
}

function sha256Of(file: string): string {
  const h = createHash("sha256");
  const fd = openSync(file, "r");
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

interface Progress {
  update(done: number): void;
  stop(): void;
}

/** Progress on stderr: a bar on a terminal; elsewhere (a log, a pipe) a plain line per tenth of the transfer, no control characters. */
function progress(what: string, total: number, done = 0): Progress {
  if (process.stderr.isTTY) {
    const b = new SingleBar({ stream: process.stderr, format: `${what} {bar} {percentage}% {value}/{total} bytes`, hideCursor: true });
    b.start(total, done);
    return { update: (n) => b.update(n), stop: () => b.stop() };
  }
  let shown = -1;
  const update = (n: number) => {
    const tenth = total === 0 ? 10 : Math.floor((n * 10) / total);
    if (tenth <= shown) return;
    shown = tenth;
    process.stderr.write(`${what}: ${n}/${total} bytes (${tenth * 10}%)\n`);
  };
  update(done);
  return { update, stop: () => undefined };
}

async function put(client: ColmenaClient, local: string, path: string): Promise<unknown> {
  const st = statSync(local);
  const key = `${resolve(local)}|${path}|${st.size}|${st.mtimeMs}`;
  let id: string | undefined = readUploads()[key];
  let received = 0;
  if (id) {
    try {
      received = (await client.request<{ received: number }>("files.upload.status", { upload_id: id })).received;
    } catch {
      id = undefined;
    }
  }
  if (!id) {
    id = (await client.request<{ upload_id: string }>("files.upload.begin", { path, size: st.size, sha256: sha256Of(local) })).upload_id;
    rememberUpload(key, id);
  }
  if (received > 0) process.stderr.write(`resuming upload ${id} at ${received} of ${st.size} bytes\n`);
  const shown = progress(`put ${path}`, st.size, received);
  const fd = openSync(local, "r");
  try {
    await sendUploadChunks(client, {
      uploadId: id,
      size: st.size,
      chunkSize: FILES_CHUNK_SIZE,
      from: received,
      read: async (offset, length) => {
        const buf = Buffer.allocUnsafe(length);
        return buf.subarray(0, readSync(fd, buf, 0, length, offset)).toString("base64");
      },
      onProgress: (n) => shown.update(n),
    });
  } finally {
    closeSync(fd);
    shown.stop();
  }
  const done = await client.request("files.upload.commit", { upload_id: id! });
  rememberUpload(key, undefined);
  return done;
}

async function get(client: ColmenaClient, path: string, local: string, version?: number): Promise<unknown> {
  const st = await client.request<{ size: number; version: number }>("files.stat", { path, ...(version ? { version } : {}) });
  const out = createWriteStream(local);
  const shown = progress(`get ${path}`, st.size);
  try {
    for (let offset = 0; ; ) {
      const r = await client.request<{ data: string; eof: boolean }>("files.read", { path, version: st.version, offset, length: FILES_READ_MAX });
      const bytes = Buffer.from(r.data, "base64");
      if (!out.write(bytes)) await new Promise<void>((ok) => out.once("drain", () => ok()));
      offset += bytes.length;
      shown.update(offset);
      if (r.eof) break;
    }
  } finally {
    shown.stop();
    await new Promise<void>((ok) => out.end(() => ok()));
  }
  return st;
}

export const commands: Command[] = [
  {
    name: "files",
    usage: "put|get|ls|versions|rm|share ...",
    summary: "your files: upload (resumable, with progress), download, list, versions, delete, share links",
    options: { version: { type: "string" }, ttl: { type: "string" } },
    async run(args) {
      const sub = args.positionals[0];
      const version = intFlag(args, "version");
      const run = (fn: (c: ColmenaClient) => Promise<unknown>) => withClient(args, "session", async (c) => printJson(await fn(c)));
      switch (sub) {
        case "put": return run((c) => put(c, need(args, 1, "a local file"), need(args, 2, "a path")));
        case "get": return run((c) => get(c, need(args, 1, "a path"), need(args, 2, "a local file"), version));
        case "ls": return run((c) => c.request("files.list", args.positionals[1] ? { prefix: args.positionals[1] } : {}));
        case "versions": return run((c) => c.request("files.versions", { path: need(args, 1, "a path") }));
        case "rm": return run((c) => c.request("files.delete", { path: need(args, 1, "a path") }));
        case "share": {
          const ttl = intFlag(args, "ttl");
          return run((c) => c.request("files.share", { path: need(args, 1, "a path"), ...(version ? { version } : {}), ...(ttl ? { ttl_s: ttl } : {}) }));
        }
        default:
          throw new UsageError(`usage: colmena files ${USAGE}`);
      }
    },
  },
];
