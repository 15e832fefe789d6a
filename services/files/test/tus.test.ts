/**
 * The tus handler called directly with the HttpCall the gateway's bridge
 * would build (real nats-server, real files instances, real blob store):
 * every status of protocol.md section 7's tus part. tus-js-client through
 * the gateway is test/e2e/files-tus.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { HttpAnswer, HttpCall, HttpHandler, HttpMethod } from "@colmena/protocol";
import { startNats } from "@colmena/testing";
import { b64, call, filesFixture, unb64 } from "./helpers.ts";

const T = { "tus-resumable": "1.0.0" };
const OCTETS = { "content-type": "application/offset+octet-stream" };
const meta = (pairs: Record<string, string>) => Object.entries(pairs).map(([k, v]) => `${k} ${b64(v)}`).join(",");

async function* chunks(bytes: Buffer, size = 64 * 1024, cutAfter?: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) {
    if (cutAfter !== undefined && at >= cutAfter) throw new Error("socket hang up");
    yield bytes.subarray(at, at + size);
  }
}

interface Req {
  path?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  cutAfter?: number;
  user?: string | null;
}

function send(h: HttpHandler, method: HttpMethod, r: Req = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...r.headers };
  if (r.body) headers["content-length"] = String(r.body.length);
  const c: HttpCall = {
    route: "tus",
    method,
    path: r.path ?? "",
    query: new URLSearchParams(),
    headers,
    user: r.user === null ? undefined : { id: r.user ?? "u1", username: r.user ?? "u1" },
    body: r.body ? chunks(r.body, 64 * 1024, r.cutAfter) : chunks(Buffer.alloc(0)),
    signal: new AbortController().signal,
  };
  return h(c);
}

const idOf = (a: HttpAnswer) => a.headers!.Location.slice("/v1/tus/".length);
const errorOf = (a: HttpAnswer) => JSON.parse(String(a.body)).error;

async function readAll(nc: Parameters<typeof call>[0], path: string, size: number, user = "u1"): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < size; ) {
    const r = await call(nc, "files.read", { path, offset: at, length: 700_000 }, user);
    parts.push(unb64(r.data));
    at += parts[parts.length - 1].length;
  }
  return Buffer.concat(parts);
}

test("files tus - OPTIONS announces the version, extensions, checksum algorithm and max size; other versions get 412, no token 401", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url, { COLMENA_FILES_QUOTA_BYTES: "5000000" });
  const tus = (await fx.start()).handlers.tus;
  const o = await send(tus, "OPTIONS", { user: null });
  assert.equal(o.status, 204);
  assert.equal(o.headers!["Tus-Version"], "1.0.0");
  assert.equal(o.headers!["Tus-Extension"], "creation,creation-with-upload,termination,checksum,expiration");
  assert.equal(o.headers!["Tus-Checksum-Algorithm"], "sha256");
  assert.equal(o.headers!["Tus-Max-Size"], "5000000");
  const old = await send(tus, "POST", { headers: { "tus-resumable": "0.2.2", "upload-length": "5" } });
  assert.equal(old.status, 412);
  assert.equal(old.headers!["Tus-Version"], "1.0.0");
  assert.equal((await send(tus, "HEAD", { path: "u_abcdefgh1" })).status, 412, "no Tus-Resumable is another version");
  const anon = await send(tus, "POST", { user: null, headers: { ...T, "upload-length": "5", "upload-metadata": meta({ path: "a" }) } });
  assert.equal(anon.status, 401);
  assert.equal(errorOf(anon).code, "unauthorized");
});

test("files tus - POST, HEAD and PATCHes upload a file; the last byte commits a version; the id works with files.upload.status", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  const tus = (await fx.start()).handlers.tus;
  const data = randomBytes(5 * 1024 * 1024 + 1234);
  const created = await send(tus, "POST", { headers: { ...T, "upload-length": String(data.length), "upload-metadata": meta({ filename: "docs/big.bin", filetype: "application/x-test" }) } });
  assert.equal(created.status, 201);
  const id = idOf(created);
  assert.equal(created.headers!["Upload-Offset"], "0");
  assert.ok(Date.parse(created.headers!["Upload-Expires"]) > Date.now());
  const h = await send(tus, "HEAD", { path: id, headers: T });
  assert.deepEqual([h.status, h.headers!["Upload-Offset"], h.headers!["Upload-Length"], h.headers!["Cache-Control"]], [200, "0", String(data.length), "no-store"]);
  assert.ok(Date.parse(h.headers!["Upload-Expires"]) > Date.now());
  const half = 3 * 1024 * 1024;
  const p1 = await send(tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": "0" }, body: data.subarray(0, half) });
  assert.deepEqual([p1.status, p1.headers!["Upload-Offset"]], [204, String(half)]);
  assert.equal((await call(fx.nc, "files.upload.status", { upload_id: id })).received, half);
  const p2 = await send(tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": String(half) }, body: data.subarray(half) });
  assert.deepEqual([p2.status, p2.headers!["Upload-Offset"]], [204, String(data.length)]);
  const st = await call(fx.nc, "files.stat", { path: "docs/big.bin" });
  assert.deepEqual([st.version, st.size, st.sha256, st.content_type], [1, data.length, createHash("sha256").update(data).digest("hex"), "application/x-test"]);
  assert.deepEqual(await readAll(fx.nc, "docs/big.bin", data.length), data);
  assert.equal((await send(tus, "HEAD", { path: id, headers: T })).status, 404, "a committed upload is gone");
});

test("files tus - creation-with-upload stores the POST body as the first bytes; a whole file in the POST commits at once", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  const tus = (await fx.start()).handlers.tus;
  const data = randomBytes(200_000);
  const c = await send(tus, "POST", { headers: { ...T, ...OCTETS, "upload-length": String(data.length), "upload-metadata": meta({ path: "/cwu.bin", content_type: "text/plain" }) }, body: data.subarray(0, 150_000) });
  assert.deepEqual([c.status, c.headers!["Upload-Offset"]], [201, "150000"]);
  const p = await send(tus, "PATCH", { path: idOf(c), headers: { ...T, ...OCTETS, "upload-offset": "150000" }, body: data.subarray(150_000) });
  assert.equal(p.status, 204);
  assert.deepEqual(await readAll(fx.nc, "cwu.bin", data.length), data);
  const whole = await send(tus, "POST", { headers: { ...T, ...OCTETS, "upload-length": "5", "upload-metadata": meta({ path: "five" }) }, body: Buffer.from("12345") });
  assert.equal(whole.status, 201);
  assert.equal(unb64((await call(fx.nc, "files.get", { path: "five" })).content).toString(), "12345");
  const empty = await send(tus, "POST", { headers: { ...T, "upload-length": "0", "upload-metadata": meta({ path: "empty" }) } });
  assert.equal(empty.status, 201);
  assert.equal((await call(fx.nc, "files.stat", { path: "empty" })).size, 0);
});

test("files tus - a checksum mismatch answers 460 and stores nothing of the body; a matching one counts; a wrong offset is 409", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  const f = await fx.start();
  const data = randomBytes(6 * 1024 * 1024);
  const id = idOf(await send(f.handlers.tus, "POST", { headers: { ...T, "upload-length": String(data.length), "upload-metadata": meta({ path: "sum.bin" }) } }));
  const sum = (b: Buffer) => `sha256 ${createHash("sha256").update(b).digest("base64")}`;
  const first = data.subarray(0, 5 * 1024 * 1024);
  const bad = await send(f.handlers.tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": "0", "upload-checksum": sum(Buffer.from("other")) }, body: first });
  assert.equal(bad.status, 460);
  assert.equal((await call(fx.nc, "files.upload.status", { upload_id: id })).received, 0);
  assert.deepEqual(await f.blobs.store.keys(`u/${id}/`), [], "the staged parts of the refused body are gone");
  const md5 = await send(f.handlers.tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": "0", "upload-checksum": "md5 AAAA" }, body: first });
  assert.equal(md5.status, 400);
  const good = await send(f.handlers.tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": "0", "upload-checksum": sum(first) }, body: first });
  assert.deepEqual([good.status, good.headers!["Upload-Offset"]], [204, String(first.length)]);
  const wrong = await send(f.handlers.tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": "10" }, body: data.subarray(10, 20) });
  assert.equal(wrong.status, 409);
  assert.equal(errorOf(wrong).code, "conflict");
  const past = await send(f.handlers.tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": String(first.length) }, body: Buffer.concat([data.subarray(first.length), Buffer.from("x")]) });
  assert.equal(past.status, 413);
  const rest = await send(f.handlers.tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": String(first.length) }, body: data.subarray(first.length) });
  assert.equal(rest.status, 204);
  assert.deepEqual(await readAll(fx.nc, "sum.bin", data.length), data);
});

test("files tus - a body cut off keeps what arrived; DELETE ends an upload; another user's upload is 404; over the quota is 413", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url, { COLMENA_FILES_QUOTA_BYTES: "1000000" });
  const f = await fx.start();
  const data = randomBytes(900_000);
  const id = idOf(await send(f.handlers.tus, "POST", { headers: { ...T, "upload-length": String(data.length), "upload-metadata": meta({ path: "cut.bin" }) } }));
  await send(f.handlers.tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": "0" }, body: data, cutAfter: 5 * 64 * 1024 });
  assert.equal((await send(f.handlers.tus, "HEAD", { path: id, headers: T })).headers!["Upload-Offset"], String(5 * 64 * 1024));
  for (const m of ["HEAD", "PATCH", "DELETE"] as const) assert.equal((await send(f.handlers.tus, m, { path: id, user: "u2", headers: { ...T, ...OCTETS, "upload-offset": "0" } })).status, 404, m);
  assert.equal((await send(f.handlers.tus, "HEAD", { path: "u_nosuchupload1", headers: T })).status, 404);
  assert.equal((await send(f.handlers.tus, "HEAD", { path: "../etc", headers: T })).status, 404);
  assert.equal((await send(f.handlers.tus, "DELETE", { path: id, headers: T })).status, 204);
  assert.equal((await send(f.handlers.tus, "HEAD", { path: id, headers: T })).status, 404);
  assert.deepEqual(await f.blobs.store.keys(`u/${id}/`), []);
  const big = await send(f.handlers.tus, "POST", { headers: { ...T, "upload-length": "1000001", "upload-metadata": meta({ path: "big" }) } });
  assert.equal(big.status, 413);
  assert.equal(errorOf(big).code, "quota_exceeded");
  await call(fx.nc, "files.put", { path: "room", content: b64(randomBytes(600_000)) });
  assert.equal((await send(f.handlers.tus, "POST", { headers: { ...T, "upload-length": "500000", "upload-metadata": meta({ path: "b" }) } })).status, 413);
  assert.equal((await send(f.handlers.tus, "POST", { headers: { ...T, "upload-length": "10", "upload-metadata": meta({ path: "a/../b" }) } })).status, 400);
  assert.equal((await send(f.handlers.tus, "POST", { headers: { ...T, "upload-length": "10", "upload-metadata": "path" } })).status, 400);
  assert.equal((await send(f.handlers.tus, "POST", { headers: { ...T, "upload-length": "x", "upload-metadata": meta({ path: "b" }) } })).status, 400);
});

test("files tus - a HEAD while a cut PATCH still stages what reached it answers the offset after it, not before", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  const f = await fx.start();
  const data = randomBytes(900_000);
  const id = idOf(await send(f.handlers.tus, "POST", { headers: { ...T, "upload-length": String(data.length), "upload-metadata": meta({ path: "racing.bin" }) } }));
  // Not awaited: the client is gone, the handler is still staging the bytes that reached it.
  const cut = send(f.handlers.tus, "PATCH", { path: id, headers: { ...T, ...OCTETS, "upload-offset": "0" }, body: data, cutAfter: 5 * 64 * 1024 });
  const head = await send(f.handlers.tus, "HEAD", { path: id, headers: T });
  await cut;
  assert.equal(head.headers!["Upload-Offset"], String(5 * 64 * 1024), "the resuming client is told where the cut PATCH left the upload");
});

test("files tus - an upload begun over tus goes on with files.upload.chunk on another replica and commits with files.upload.commit", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  const a = await fx.start();
  await fx.start();
  const data = randomBytes(700_000);
  const id = idOf(await send(a.handlers.tus, "POST", { headers: { ...T, ...OCTETS, "upload-length": String(data.length), "upload-metadata": meta({ path: "mixed.bin" }) }, body: data.subarray(0, 300_000) }));
  assert.equal((await call(fx.nc, "files.upload.status", { upload_id: id })).received, 300_000);
  await call(fx.nc, "files.upload.chunk", { upload_id: id, offset: 300_000, data: b64(data.subarray(300_000)) });
  const done = await call(fx.nc, "files.upload.commit", { upload_id: id });
  assert.equal(done.size, data.length);
  assert.deepEqual(await readAll(fx.nc, "mixed.bin", data.length), data);
});

test("files tus - an unfinished upload expires at Upload-Expires and is then 404", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url, { COLMENA_FILES_UPLOAD_TTL_MS: "1500" });
  const tus = (await fx.start()).handlers.tus;
  const c = await send(tus, "POST", { headers: { ...T, ...OCTETS, "upload-length": "10", "upload-metadata": meta({ path: "soon" }) }, body: Buffer.from("12345") });
  const expires = Date.parse(c.headers!["Upload-Expires"]);
  assert.ok(expires > Date.now() && expires <= Date.now() + 2500);
  assert.equal((await send(tus, "HEAD", { path: idOf(c), headers: T })).status, 200);
  await sleep(Math.max(0, expires - Date.now()) + 1500);
  assert.equal((await send(tus, "HEAD", { path: idOf(c), headers: T })).status, 404);
});
