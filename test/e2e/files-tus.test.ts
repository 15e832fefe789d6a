/** @test-exclusive (scripts/run-tests.mjs: runs alone, after the others)
 * tus 1.0 at /v1/tus/ through the real gateway, driven by tus-js-client's
 * Node build (the client most tus users have) and, for what it never sends
 * (a wrong checksum, a wrong offset, another version), by plain fetch.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as tus from "tus-js-client";
import { startSystem, type System, type TestUser } from "./harness.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const b64 = (s: string) => Buffer.from(s).toString("base64");
const T = { "Tus-Resumable": "1.0.0" };
const OCTETS = { "Content-Type": "application/offset+octet-stream" };

interface Fixture extends AsyncDisposable {
  sys: System;
  endpoint: string;
  dir: string;
  user(): Promise<TestUser & { auth: Record<string, string> }>;
  file(bytes: Buffer): string;
}

async function fixture(env: Record<string, string> = {}): Promise<Fixture> {
  const sys = await startSystem({ services: ["auth", "files"], env });
  const dir = mkdtempSync(join(tmpdir(), "colmena-tus-"));
  let n = 0;
  return {
    sys,
    dir,
    endpoint: `${sys.gateway.httpUrl}/v1/tus/`,
    async user() {
      const u = await sys.user({ transport: "ws", codec: "msgpack" });
      return Object.assign(u, { auth: { Authorization: `Bearer ${u.accessToken}` } });
    },
    file(bytes) {
      const f = join(dir, `f${++n}.bin`);
      writeFileSync(f, bytes);
      return f;
    },
    async [Symbol.asyncDispose]() {
      await sys.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Uploads with tus-js-client; resolves with the upload once it succeeded. */
function upload(file: string, options: tus.UploadOptions & { onStarted?: (u: tus.Upload) => void }): Promise<tus.Upload> {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(createReadStream(file), { retryDelays: [], ...options, onSuccess: () => resolve(u), onError: reject });
    options.onStarted?.(u);
    u.start();
  });
}

async function readBack(u: TestUser, path: string, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < size; ) {
    const r = await u.client.request<{ data: Uint8Array }>("files.read", { path, offset: at, length: 700_000 });
    parts.push(Buffer.from(r.data));
    at += r.data.length;
  }
  return Buffer.concat(parts);
}

/** The Node build's file-backed URL store (the package's types declare the browser build only). */
const FileUrlStorage = (tus as unknown as { FileUrlStorage: new (path: string) => tus.UrlStorage }).FileUrlStorage;
const statusOf = (err: unknown) => (err as tus.DetailedError).originalResponse?.getStatus();

test("files tus e2e - tus-js-client uploads a file in one PATCH and in chunks, with creation-with-upload; each is a new version", async () => {
  await using fx = await fixture();
  const u = await fx.user();
  const data = randomBytes(9 * 1024 * 1024 + 17);
  const file = fx.file(data);
  await upload(file, { endpoint: fx.endpoint, headers: u.auth, metadata: { filename: "tus/one.bin", filetype: "application/x-one" } });
  const st = await u.client.request<{ size: number; sha256: string; content_type: string; version: number }>("files.stat", { path: "tus/one.bin" });
  assert.deepEqual([st.size, st.sha256, st.content_type, st.version], [data.length, sha(data), "application/x-one", 1]);
  assert.deepEqual(await readBack(u, "tus/one.bin", data.length), data);
  // Chunks of 1 MiB, the first sent with the POST.
  const requests: string[] = [];
  await upload(file, { endpoint: fx.endpoint, headers: u.auth, metadata: { path: "tus/one.bin" }, chunkSize: 1024 * 1024, uploadDataDuringCreation: true, onBeforeRequest: (r) => void requests.push(r.getMethod()) });
  assert.equal(requests[0], "POST");
  assert.equal(requests.filter((m) => m === "PATCH").length, 9, "the POST carried the first of ten chunks");
  assert.equal((await u.client.request<{ version: number }>("files.stat", { path: "tus/one.bin" })).version, 2);
});

test("files tus e2e - an upload whose connection is killed mid-PATCH is resumed by a new client from the stored URL", async () => {
  await using fx = await fixture();
  const u = await fx.user();
  const data = randomBytes(24 * 1024 * 1024);
  const file = fx.file(data);
  const urlStorage = new FileUrlStorage(join(fx.dir, "tus-urls.json"));
  const opts = { endpoint: fx.endpoint, headers: u.auth, metadata: { path: "resumed.bin" }, urlStorage, storeFingerprintForResuming: true, removeFingerprintOnSuccess: true };
  // The first client is cut off once a third of the file is on its way: abort() destroys the socket mid-PATCH.
  let first!: tus.Upload;
  await new Promise<void>((resolve, reject) => {
    first = new tus.Upload(createReadStream(file), {
      ...opts,
      retryDelays: [],
      onProgress: (sent) => {
        if (sent >= data.length / 3) first.abort().then(resolve, reject);
      },
      onSuccess: () => reject(new Error("the first client finished before it was cut off")),
      onError: reject,
    });
    first.start();
  });
  const url = first.url!;
  // What arrived before the cut is kept (the handler stages what it got, until it sees the cut): wait until it settles.
  const offsetNow = async () => Number((await fetch(new URL(url, fx.endpoint), { method: "HEAD", headers: { ...T, ...u.auth } })).headers.get("upload-offset"));
  // Settled: the same offset over three reads a second apart (a staged part can land up to a few hundred ms after the cut, later under load).
  let kept = -1;
  for (let same = 0; same < 3; ) {
    const now = await offsetNow();
    same = now === kept ? same + 1 : 0;
    kept = now;
    await sleep(1000);
  }
  assert.ok(kept > 0 && kept < data.length, `kept ${kept} bytes`);
  assert.equal((await u.client.request<{ received: number }>("files.upload.status", { upload_id: url.split("/").pop()! })).received, await offsetNow());

  // A client as tus-js-client users configure it: a 409 (the service moved on) makes it ask HEAD again.
  const second = new tus.Upload(createReadStream(file), { ...opts, retryDelays: [200, 500, 1000] });
  const previous = await second.findPreviousUploads();
  assert.equal(previous.length, 1, "the fingerprint found the stored URL");
  second.resumeFromPreviousUpload(previous[0]);
  const offsets: string[] = [];
  await new Promise<void>((resolve, reject) => {
    second.options.onAfterResponse = (req, res) => void (req.getMethod() === "HEAD" && offsets.push(res.getHeader("Upload-Offset") ?? ""));
    second.options.onSuccess = () => resolve();
    second.options.onError = reject;
    second.start();
  });
  assert.equal(second.url, url, "the same upload went on");
  assert.ok(Number(offsets[0]) >= kept, "it resumed from the bytes the service had");
  assert.deepEqual(await readBack(u, "resumed.bin", data.length), data);
  assert.deepEqual(await urlStorage.findAllUploads(), [], "the fingerprint is forgotten once done");
});

test("files tus e2e - 412 for another version, 401 without a token, 460 on a checksum mismatch, 409 on a wrong offset, 404 for another user's upload, termination", async () => {
  await using fx = await fixture();
  const u = await fx.user();
  const other = await fx.user();
  const options = await fetch(fx.endpoint, { method: "OPTIONS" });
  assert.equal(options.status, 204);
  assert.equal(options.headers.get("tus-resumable"), "1.0.0");
  assert.equal(options.headers.get("tus-extension"), "creation,creation-with-upload,termination,checksum,expiration");
  assert.equal(options.headers.get("tus-checksum-algorithm"), "sha256");
  assert.ok(Number(options.headers.get("tus-max-size")) > 0);
  const create = { ...T, ...u.auth, "Upload-Length": "10", "Upload-Metadata": `path ${b64("t.bin")}` };
  const old = await fetch(fx.endpoint, { method: "POST", headers: { ...create, "Tus-Resumable": "0.2.2" } });
  assert.equal(old.status, 412);
  assert.equal(old.headers.get("tus-version"), "1.0.0");
  const anon = await fetch(fx.endpoint, { method: "POST", headers: { ...T, "Upload-Length": "10", "Upload-Metadata": `path ${b64("t.bin")}` } });
  assert.equal(anon.status, 401);
  assert.equal(((await anon.json()) as { error: { code: string } }).error.code, "unauthorized");
  assert.equal(anon.headers.get("tus-resumable"), "1.0.0");
  const bad = await fetch(fx.endpoint, { method: "POST", headers: { ...T, Authorization: "Bearer nonsense", "Upload-Length": "10" } });
  assert.equal(bad.status, 401);

  const c = await fetch(fx.endpoint, { method: "POST", headers: create });
  assert.equal(c.status, 201);
  const url = new URL(c.headers.get("location")!, fx.endpoint);
  assert.match(url.pathname, /^\/v1\/tus\/u_/);
  assert.ok(Date.parse(c.headers.get("upload-expires")!) > Date.now());
  const patch = (body: string, offset: number, extra: Record<string, string> = {}, who = u) => fetch(url, { method: "PATCH", headers: { ...T, ...OCTETS, ...who.auth, "Upload-Offset": String(offset), ...extra }, body });
  const mismatch = await patch("12345", 0, { "Upload-Checksum": `sha256 ${createHash("sha256").update("other").digest("base64")}` });
  assert.equal(mismatch.status, 460);
  assert.equal((await fetch(url, { method: "HEAD", headers: { ...T, ...u.auth } })).headers.get("upload-offset"), "0", "nothing of it was stored");
  const ok = await patch("12345", 0, { "Upload-Checksum": `sha256 ${createHash("sha256").update("12345").digest("base64")}` });
  assert.deepEqual([ok.status, ok.headers.get("upload-offset")], [204, "5"]);
  assert.equal((await patch("678", 2)).status, 409);
  for (const method of ["HEAD", "DELETE"]) assert.equal((await fetch(url, { method, headers: { ...T, ...other.auth } })).status, 404, `another user's ${method}`);
  assert.equal((await patch("67890", 5, {}, other)).status, 404);
  const head = await fetch(url, { method: "HEAD", headers: { ...T, ...u.auth } });
  assert.deepEqual([head.status, head.headers.get("upload-offset"), head.headers.get("upload-length"), head.headers.get("cache-control")], [200, "5", "10", "no-store"]);
  // termination, through tus-js-client
  await tus.Upload.terminate(url.href, { headers: u.auth, retryDelays: [] });
  assert.equal((await fetch(url, { method: "HEAD", headers: { ...T, ...u.auth } })).status, 404);
  await assert.rejects(u.client.request("files.upload.status", { upload_id: url.pathname.split("/").pop()! }), (e: { code?: string }) => e.code === "not_found");
});

test("files tus e2e - over the quota is 413; an unfinished upload expires at Upload-Expires", async () => {
  await using fx = await fixture({ COLMENA_FILES_QUOTA_BYTES: "2000000", COLMENA_FILES_UPLOAD_TTL_MS: "2000" });
  const u = await fx.user();
  const big = fx.file(randomBytes(2_000_001));
  await assert.rejects(upload(big, { endpoint: fx.endpoint, headers: u.auth, metadata: { path: "big.bin" } }), (e) => statusOf(e) === 413);
  const c = await fetch(fx.endpoint, { method: "POST", headers: { ...T, ...u.auth, ...OCTETS, "Upload-Length": "10", "Upload-Metadata": `path ${b64("soon")}` }, body: "12345" });
  assert.deepEqual([c.status, c.headers.get("upload-offset")], [201, "5"]);
  const expires = Date.parse(c.headers.get("upload-expires")!);
  assert.ok(expires > Date.now() && expires < Date.now() + 3000);
  const url = new URL(c.headers.get("location")!, fx.endpoint);
  await sleep(Math.max(0, expires - Date.now()) + 1500);
  assert.equal((await fetch(url, { method: "HEAD", headers: { ...T, ...u.auth } })).status, 404);
});

test("files tus e2e - an upload begun over tus goes on with files.upload.chunk over the frame protocol and commits", async () => {
  await using fx = await fixture();
  const u = await fx.user();
  const data = randomBytes(1_500_000);
  const c = await fetch(fx.endpoint, { method: "POST", headers: { ...T, ...u.auth, ...OCTETS, "Upload-Length": String(data.length), "Upload-Metadata": `path ${b64("mixed.bin")}` }, body: data.subarray(0, 600_000) });
  assert.equal(c.status, 201);
  const id = c.headers.get("location")!.split("/").pop()!;
  let received = (await u.client.request<{ received: number }>("files.upload.status", { upload_id: id })).received;
  assert.equal(received, 600_000);
  while (received < data.length) received = (await u.client.request<{ received: number }>("files.upload.chunk", { upload_id: id, offset: received, data: data.subarray(received, received + 512 * 1024) })).received;
  const done = await u.client.request<{ size: number; sha256: string }>("files.upload.commit", { upload_id: id });
  assert.deepEqual([done.size, done.sha256], [data.length, sha(data)]);
  assert.equal((await fetch(new URL(`/v1/tus/${id}`, fx.endpoint), { method: "HEAD", headers: { ...T, ...u.auth } })).status, 404);
});
