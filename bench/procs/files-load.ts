/**
 * The files benchmark's client process: one transfer at a time, of a file on
 * disk or into nothing, over each path bench/files.ts compares:
 *
 * - `ws`: files.upload.begin/chunk/commit and files.read over a MessagePack
 *   WebSocket (libs/client), chunks of `chunk_size` in order, three in
 *   flight, reads four at a time;
 * - `http`: PUT and GET /v1/files/<path>, streamed both ways (node:http);
 * - `tus`: tus-js-client's Node build uploading the file in one PATCH, to the
 *   gateway's /v1/tus/ or to the peer;
 * - `direct`: the raw JetStream object store client (@nats-io/obj) putting and
 *   getting the same bytes as one object straight to the same nats-server: no
 *   gateway, no files service, no hashing, no encryption, no staging; with the
 *   store options the files service uses (1 MiB chunks, node:crypto's SHA-256
 *   for the object store's own digest).
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { request } from "node:http";
import { Readable } from "node:stream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm, StorageType, setSha256Backend, type ObjectStore } from "@nats-io/obj";
import * as tus from "tus-js-client";
import { ColmenaClient, sendUploadChunks } from "@colmena/client";
import { serveParent } from "../lib/child.ts";

export interface TransferArgs {
  path: "ws" | "http" | "tus" | "direct";
  direction: "up" | "down";
  /** The local file (uploads). */
  file?: string;
  /** The remote name: a file path, an object name, or (tus) the metadata path. */
  name: string;
  size: number;
  /** tus: the endpoint (the gateway's or the peer's). */
  endpoint?: string;
}

export interface TransferResult {
  seconds: number;
  bytes: number;
}

let client: ColmenaClient;
let token = "";
let httpUrl = "";
let nc: NatsConnection;
let direct: ObjectStore;

const READ = 768 * 1024;
/** Upload chunks sent before the first of them is answered (sendUploadChunks). */
const CHUNKS_IN_FLIGHT = 3;
/** The direct path is configured as the files service configures its store: 1 MiB chunks, node:crypto's SHA-256 (the client's default is 128 KiB and pure JS). */
const DIRECT_CHUNK = 1024 * 1024;
let commitTimeouts = 0;

async function wsUp(a: TransferArgs): Promise<number> {
  const up = await client.request<{ upload_id: string; chunk_size: number }>("files.upload.begin", { path: a.name, size: a.size });
  const fh = await open(a.file!, "r");
  try {
    await sendUploadChunks(client, {
      uploadId: up.upload_id,
      size: a.size,
      chunkSize: up.chunk_size,
      inFlight: CHUNKS_IN_FLIGHT,
      read: async (offset, length) => {
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        return buf.subarray(0, bytesRead);
      },
    });
  } finally {
    await fh.close();
  }
  try {
    return (await client.request<{ size: number }>("files.upload.commit", { upload_id: up.upload_id })).size;
  } catch (err) {
    // A large commit outlasts the gateway's request deadline while the service goes on: the transfer ends when the version is there.
    if ((err as { code?: string }).code !== "timeout") throw err;
    commitTimeouts++;
    for (;;) {
      const st = await client.request<{ size: number }>("files.stat", { path: a.name }).catch(() => null);
      if (st) return st.size;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function wsDown(a: TransferArgs): Promise<number> {
  let next = 0;
  let got = 0;
  const reader = async () => {
    while (next < a.size) {
      const offset = next;
      next += READ;
      // Awaited first: `got += await ...` would read `got` before the await and lose the other readers' bytes.
      const r = await client.request<{ data: Uint8Array }>("files.read", { path: a.name, offset, length: READ });
      got += r.data.length;
    }
  };
  await Promise.all([reader(), reader(), reader(), reader()]);
  return got;
}

function http(method: "PUT" | "GET", a: TransferArgs): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
    if (method === "PUT") headers["Content-Length"] = String(a.size);
    const req = request(`${httpUrl}/v1/files/${encodeURI(a.name)}`, { method, headers }, (res) => {
      let bytes = 0;
      res.on("data", (d: Buffer) => (bytes += d.length));
      res.on("end", () => (res.statusCode === 200 || res.statusCode === 201 ? resolve(method === "PUT" ? a.size : bytes) : reject(new Error(`${method} answered ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (method === "PUT") createReadStream(a.file!).pipe(req);
    else req.end();
  });
}

function tusUp(a: TransferArgs): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(createReadStream(a.file!), {
      endpoint: a.endpoint!,
      headers: { Authorization: `Bearer ${token}` },
      metadata: { path: a.name, filename: a.name },
      retryDelays: [],
      onSuccess: () => resolve(a.size),
      onError: reject,
    });
    u.start();
  });
}

async function directUp(a: TransferArgs): Promise<number> {
  const info = await direct.put({ name: a.name, options: { max_chunk_size: DIRECT_CHUNK } }, Readable.toWeb(createReadStream(a.file!)) as ReadableStream<Uint8Array>);
  return info.size;
}

async function directDown(a: TransferArgs): Promise<number> {
  const r = await direct.get(a.name);
  if (!r) throw new Error(`no object ${a.name}`);
  let bytes = 0;
  for await (const chunk of r.data as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
  const err = await r.error;
  if (err) throw err;
  return bytes;
}

async function transfer(a: TransferArgs): Promise<TransferResult> {
  const t0 = process.hrtime.bigint();
  const up = a.direction === "up";
  const bytes =
    a.path === "ws" ? await (up ? wsUp(a) : wsDown(a))
    : a.path === "http" ? await http(up ? "PUT" : "GET", a)
    : a.path === "tus" ? await tusUp(a)
    : await (up ? directUp(a) : directDown(a));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (bytes !== a.size) throw new Error(`${a.path} ${a.direction} moved ${bytes} of ${a.size} bytes`);
  return { seconds, bytes };
}

serveParent({ pid: process.pid }, {
  setup: async (s: { wsUrl: string; httpUrl: string; natsUrl: string; username: string; password: string }) => {
    httpUrl = s.httpUrl;
    client = await ColmenaClient.connect({ url: s.wsUrl, codec: "msgpack" });
    await client.register(s.username, s.password);
    token = (await client.login(s.username, s.password)).access_token;
    setSha256Backend("native");
    nc = await connect({ servers: s.natsUrl, name: "bench-direct" });
    direct = await new Objm(nc).create("bench_direct", { storage: StorageType.File });
    return null;
  },
  transfer,
  commitTimeouts: () => commitTimeouts,
  dropDirect: async (name: string) => {
    await direct.delete(name).catch(() => undefined);
    return null;
  },
  stop: async () => {
    client?.close();
    await nc?.close();
  },
});
