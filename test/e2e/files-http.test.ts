/**
 * The files service's HTTP routes through a real gateway (protocol.md section
 * 7): PUT and GET/HEAD `/v1/files/<path>` with Range, ETag and If-None-Match,
 * `/v1/share/<token>`, access and hostile paths, and the gateway's own
 * answers for paths no route serves.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { BUCKETS } from "@colmena/protocol";
import { metrics } from "@colmena/runtime";
import { waitUntil } from "@colmena/testing";
import { openNatsBlobStore } from "@colmena/files";
import { startSystem, type System, type TestUser } from "./harness.ts";

let sys: System;
let ana: TestUser;
let base: string;
/** Room for a download larger than everything between the replica and the client can hold (the bridge's 1 MiB window, the gateway's and the kernel's socket buffers). */
const QUOTA = 32 * 1024 * 1024;

before(async () => {
  sys = await startSystem({ services: ["auth", "files"], env: { COLMENA_FILES_QUOTA_BYTES: String(QUOTA) } });
  ana = await sys.user({ prefix: "ana" });
  base = sys.gateway.httpUrl;
});
after(() => sys?.stop());

const auth = (u: TestUser, more: Record<string, string> = {}) => ({ Authorization: `Bearer ${u.accessToken}`, ...more });
const put = (u: TestUser, path: string, body: Uint8Array | string, headers: Record<string, string> = {}) => fetch(`${base}/v1/files/${path}`, { method: "PUT", headers: auth(u, headers), body });
const get = (u: TestUser, path: string, headers: Record<string, string> = {}, method = "GET") => fetch(`${base}/v1/files/${path}`, { method, headers: auth(u, headers) });
/** A request with its path exactly as given (fetch normalises `..` and `%2e%2e` away before sending). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const errorOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string } }).error;

test("files http - PUT stores a version and answers as files.upload.commit; GET streams it with its headers", async () => {
  const body = randomBytes(300_000);
  const r = await put(ana, "docs/a.bin", body, { "Content-Type": "application/x-test" });
  assert.equal(r.status, 201);
  const sha = createHash("sha256").update(body).digest("hex");
  assert.deepEqual(await r.json(), { path: "docs/a.bin", version: 1, size: body.length, sha256: sha });
  const g = await get(ana, "docs/a.bin");
  assert.equal(g.status, 200);
  assert.equal(g.headers.get("etag"), `"${sha}"`);
  assert.equal(g.headers.get("content-type"), "application/x-test");
  assert.equal(g.headers.get("content-length"), String(body.length));
  assert.equal(g.headers.get("accept-ranges"), "bytes");
  assert.deepEqual(Buffer.from(await g.arrayBuffer()), body);
  // The ops see the same file.
  const stat = await ana.client.request<{ size: number; version: number }>("files.stat", { path: "docs/a.bin" });
  assert.equal(stat.size, body.length);
  // A second PUT is version 2; ?version=1 still reads the first.
  assert.equal(((await (await put(ana, "docs/a.bin", "two")).json()) as { version: number }).version, 2);
  assert.equal(await (await get(ana, "docs/a.bin")).text(), "two");
  assert.deepEqual(Buffer.from(await (await get(ana, "docs/a.bin?version=1")).arrayBuffer()), body);
  assert.equal((await get(ana, "docs/a.bin?version=9")).status, 404);
  assert.equal((await get(ana, "docs/a.bin?version=x")).status, 400);
  // HEAD: the headers, no body.
  const h = await get(ana, "docs/a.bin?version=1", {}, "HEAD");
  assert.equal(h.status, 200);
  assert.equal(h.headers.get("content-length"), String(body.length));
  assert.equal((await h.arrayBuffer()).byteLength, 0);
});

test("files http - Range: first byte, last byte, open and suffix ranges, past the end (416), If-Range", async () => {
  const body = randomBytes(200_000);
  await put(ana, "r.bin", body);
  const range = async (spec: string, headers: Record<string, string> = {}) => {
    const r = await get(ana, "r.bin", { Range: spec, ...headers });
    return { status: r.status, cr: r.headers.get("content-range"), len: r.headers.get("content-length"), bytes: Buffer.from(await r.arrayBuffer()) };
  };
  const n = body.length;
  let r = await range("bytes=0-0");
  assert.deepEqual([r.status, r.cr, r.len], [206, `bytes 0-0/${n}`, "1"]);
  assert.deepEqual(r.bytes, body.subarray(0, 1));
  r = await range(`bytes=${n - 1}-${n - 1}`);
  assert.deepEqual([r.status, r.cr], [206, `bytes ${n - 1}-${n - 1}/${n}`]);
  assert.deepEqual(r.bytes, body.subarray(n - 1));
  r = await range("bytes=70000-");
  assert.deepEqual([r.status, r.cr], [206, `bytes 70000-${n - 1}/${n}`]);
  assert.deepEqual(r.bytes, body.subarray(70000));
  r = await range("bytes=-500");
  assert.deepEqual([r.status, r.cr], [206, `bytes ${n - 500}-${n - 1}/${n}`]);
  assert.deepEqual(r.bytes, body.subarray(n - 500));
  r = await range(`bytes=65530-65545`); // across a segment boundary
  assert.deepEqual(r.bytes, body.subarray(65530, 65546));
  r = await range(`bytes=100-${n + 1000}`);
  assert.deepEqual([r.status, r.cr], [206, `bytes 100-${n - 1}/${n}`]);
  r = await range(`bytes=${n}-`);
  assert.deepEqual([r.status, r.cr], [416, `bytes */${n}`]);
  r = await range("bytes=0-1", { "If-Range": '"other"' });
  assert.equal(r.status, 200);
  assert.equal(r.bytes.length, n);
  r = await range("bytes=1-2,5-6");
  assert.equal(r.status, 200);
});

test("files http - If-None-Match with the ETag answers 304", async () => {
  await put(ana, "e.txt", "etag me");
  const etag = (await get(ana, "e.txt")).headers.get("etag")!;
  const r = await get(ana, "e.txt", { "If-None-Match": etag });
  assert.equal(r.status, 304);
  assert.equal(r.headers.get("etag"), etag);
  assert.equal((await get(ana, "e.txt", { "If-None-Match": '"nope"' })).status, 200);
});

test("files http - hostile paths are 400, no token is 401, another user's file is 404", async () => {
  await put(ana, "secret.txt", "mine");
  for (const p of ["..", "../secret.txt", "a/../secret.txt", "%2e%2e/secret.txt", "a/%2E%2E/secret.txt", "a%00b", "a//b", "%ff", "./secret.txt", "a/%2e/b"]) {
    const r = await raw("GET", `/v1/files/${p}`, auth(ana));
    assert.equal(r.status, 400, p);
    assert.equal(JSON.parse(r.body).error.code, "bad_request", p);
    assert.equal((await raw("PUT", `/v1/files/${p}`, auth(ana), "x")).status, 400, p);
  }
  const anon = await fetch(`${base}/v1/files/e.txt`);
  assert.equal(anon.status, 401);
  assert.equal((await errorOf(anon)).code, "unauthorized");
  const bad = await fetch(`${base}/v1/files/e.txt`, { headers: { Authorization: "Bearer nonsense" } });
  assert.equal(bad.status, 401);
  const eve = await sys.user({ prefix: "eve" });
  assert.equal((await get(eve, "e.txt")).status, 404);
  assert.equal((await get(eve, "e.txt", {}, "HEAD")).status, 404);
});

test("files http - over the quota is 507, by Content-Length or while streaming", async () => {
  const u = await sys.user({ prefix: "quota" });
  const r = await put(u, "big", Buffer.alloc(QUOTA + 1));
  assert.equal(r.status, 507);
  assert.equal((await errorOf(r)).code, "quota_exceeded");
  // No Content-Length (a stream): the service stops at the quota.
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i <= QUOTA / (1024 * 1024); i++) c.enqueue(new Uint8Array(1024 * 1024));
      c.close();
    },
  });
  const s = await fetch(`${base}/v1/files/big2`, { method: "PUT", headers: auth(u), body: stream, duplex: "half" } as RequestInit);
  assert.equal(s.status, 507);
  assert.equal((await u.client.request<{ files: unknown[] }>("files.list", {})).files.length, 0);
});

test("files http - share links: the named version without login, until expiry or deletion", async () => {
  await put(ana, "s/doc.txt", "version one");
  await put(ana, "s/doc.txt", "version two");
  const { url } = await ana.client.request<{ url: string; expires_at: number }>("files.share", { path: "s/doc.txt", version: 1 });
  assert.match(url, /^\/v1\/share\//);
  const r = await fetch(`${base}${url}`);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "version one");
  assert.match(r.headers.get("content-disposition") ?? "", /doc\.txt/);
  const part = await fetch(`${base}${url}`, { headers: { Range: "bytes=-3" } });
  assert.equal(part.status, 206);
  assert.equal(await part.text(), "one");
  // A tampered token, another token's version, an expired one: 404.
  assert.equal((await fetch(`${base}${url}x`)).status, 404);
  assert.equal((await fetch(`${base}/v1/share/garbage`)).status, 404);
  // Valid for 2-3 s (whole seconds), whatever the load; then wait past its expiry.
  const short = await ana.client.request<{ url: string; expires_at: number }>("files.share", { path: "s/doc.txt", ttl_s: 3 });
  assert.equal(await (await fetch(`${base}${short.url}`)).text(), "version two");
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, short.expires_at - Date.now()) + 100));
  assert.equal((await fetch(`${base}${short.url}`)).status, 404);
  // Deleting the file revokes its links.
  await ana.client.request("files.delete", { path: "s/doc.txt" });
  const after = await fetch(`${base}${url}`);
  assert.equal(after.status, 404);
  assert.equal((await errorOf(after)).code, "not_found");
});

test("files http - the gateway's own answers: unknown path 404, wrong method 405, a body where none is taken 413, in the protocol's JSON", async () => {
  const none = await fetch(`${base}/v1/nothing`);
  assert.equal(none.status, 404);
  assert.equal((await errorOf(none)).code, "not_found");
  const del = await fetch(`${base}/v1/files/x`, { method: "DELETE", headers: auth(ana) });
  assert.equal(del.status, 405);
  assert.match(del.headers.get("allow") ?? "", /GET/);
  // fetch refuses a GET body: a raw request.
  const body = await raw("GET", "/v1/share/x", { "Content-Length": "3" }, "abc");
  assert.equal(body.status, 413);
  assert.equal(JSON.parse(body.body).error.code, "frame_too_large");
});

/** Calls in flight on this process's files replicas (the bridge's gauge; the harness runs services in-process). */
async function filesInFlight(): Promise<number> {
  const g = metrics.getSingleMetric("colmena_http_calls_in_flight");
  const values = g ? (await g.get()).values : [];
  return values.filter((v) => v.labels.service === "files").reduce((n, v) => n + v.value, 0);
}

test("files http - a client that goes away mid-download leaves no call behind on the replica", async () => {
  // 24 MiB: far more than the bridge's window and the sockets' buffers hold, so the replica is still sending when the client leaves.
  await put(ana, "long.bin", randomBytes(24 * 1024 * 1024));
  const ac = new AbortController();
  const r = await get(ana, "long.bin", {}, "GET");
  const g = await fetch(`${base}/v1/files/long.bin`, { headers: auth(ana), signal: ac.signal });
  await r.arrayBuffer();
  const reader = g.body!.getReader();
  await reader.read();
  assert.ok((await filesInFlight()) >= 1, "the download is in flight");
  ac.abort();
  await waitUntil("the replica's in-flight calls back to 0", async () => (await filesInFlight()) === 0, 8000);
});

test("files http - a tampered segment answers 500 internal and none of its bytes", async () => {
  const body = randomBytes(100_000);
  const sha = ((await (await put(ana, "tampered.bin", body)).json()) as { sha256: string }).sha256;
  const store = await openNatsBlobStore(sys.nc, BUCKETS.filesBlobs.name, 1);
  const whole = async (k: string) => {
    const parts: Uint8Array[] = [];
    for await (const p of (await store.get(k))!) parts.push(p);
    return Buffer.concat(parts);
  };
  const manifest = JSON.parse((await whole(`m/${sha}`)).toString()) as { blob: string };
  const key = `p/${manifest.blob}/0`;
  const sealed = await whole(key);
  sealed[40] ^= 1; // in the first segment's ciphertext
  await store.put(key, sealed);
  const r = await get(ana, "tampered.bin");
  assert.equal(r.status, 500);
  assert.equal((await errorOf(r)).code, "internal");
  // A range over the intact second segment still reads.
  const ok = await get(ana, "tampered.bin", { Range: "bytes=70000-70009" });
  assert.equal(ok.status, 206);
  assert.deepEqual(Buffer.from(await ok.arrayBuffer()), body.subarray(70000, 70010));
});

test("files http - with no files replica running, calls answer 503 unavailable at once", async () => {
  await sys.stopService("files");
  try {
    const t0 = Date.now();
    const r = await get(ana, "e.txt");
    assert.equal(r.status, 503);
    assert.equal((await errorOf(r)).code, "unavailable");
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  } finally {
    await sys.restart("files");
  }
});

test("files http - curl: PUT with -T, a ranged GET, HEAD", async () => {
  // Asynchronously: the gateway runs in this process.
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const run = promisify(execFile);
  const text = async (args: string[]) => (await run("curl", args, { encoding: "utf8" })).stdout;
  const { writeFileSync, mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "colmena-curl-"));
  try {
    const file = join(dir, "in.bin");
    const body = randomBytes(500_000);
    writeFileSync(file, body);
    const bob = await sys.user({ prefix: "curl" });
    const h = ["-sS", "--max-time", "20", "-H", `Authorization: Bearer ${bob.accessToken}`];
    const up = JSON.parse(await text([...h, "-T", file, `${base}/v1/files/curl/in.bin`]));
    assert.equal(up.size, body.length);
    const part = (await run("curl", [...h, "-r", "1000-1999", `${base}/v1/files/curl/in.bin`], { encoding: "buffer" })).stdout;
    assert.deepEqual(part, body.subarray(1000, 2000));
    const head = await text([...h, "-I", `${base}/v1/files/curl/in.bin`]);
    assert.match(head, /^HTTP\/1.1 200/m);
    assert.match(head, new RegExp(`content-length: ${body.length}`, "i"));
    // curl sends `..` as written with --path-as-is.
    const hostile = await text([...h, "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", `${base}/v1/files/curl/../../x`]);
    assert.equal(hostile, "400");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
