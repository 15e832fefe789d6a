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
import { startSystem, type System, type TestUser } from "./harness.ts";

let sys: System;
let ana: TestUser;
let base: string;
const QUOTA = 4 * 1024 * 1024;

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
      for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(1024 * 1024));
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
  const short = await ana.client.request<{ url: string }>("files.share", { path: "s/doc.txt", ttl_s: 1 });
  assert.equal(await (await fetch(`${base}${short.url}`)).text(), "version two");
  await new Promise((resolve) => setTimeout(resolve, 2100));
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
