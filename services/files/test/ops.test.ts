import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { FILES_CHUNK_SIZE, FILES_INLINE_MAX } from "@colmena/protocol";
import { startNats } from "@colmena/testing";
import { b64, call, filesFixture, refused, unb64 } from "./helpers.ts";
import { startS3rver } from "./s3-servers.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("files ops - put, get, stat, versions, delete and list, with versions numbered per path", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  await fx.start();
  const nc = fx.nc;
  const one = await call(nc, "files.put", { path: "/docs/a.txt", content: b64("hola"), content_type: "text/plain" });
  assert.deepEqual(one, { path: "docs/a.txt", version: 1, size: 4, sha256: sha(Buffer.from("hola")) });
  const two = await call(nc, "files.put", { path: "docs/a.txt", content: b64("adiós") });
  assert.equal(two.version, 2);
  const got = await call(nc, "files.get", { path: "docs/a.txt" });
  assert.equal(unb64(got.content).toString(), "adiós");
  assert.equal(got.content_type, "application/octet-stream");
  assert.equal(unb64((await call(nc, "files.get", { path: "docs/a.txt", version: 1 })).content).toString(), "hola");
  const st = await call(nc, "files.stat", { path: "docs/a.txt" });
  assert.equal(st.version, 2);
  assert.equal(st.versions, 2);
  assert.equal((await call(nc, "files.stat", { path: "docs/a.txt", version: 1 })).content_type, "text/plain");
  await call(nc, "files.put", { path: "docs/b.txt", content: b64("") });
  await call(nc, "files.put", { path: "other/c", content: b64("c") });
  assert.deepEqual((await call(nc, "files.list", {})).files.map((f: { path: string }) => f.path), ["docs/a.txt", "docs/b.txt", "other/c"]);
  assert.deepEqual((await call(nc, "files.list", { prefix: "docs/" })).files.map((f: { path: string }) => f.path), ["docs/a.txt", "docs/b.txt"]);
  // Pages
  const p1 = await call(nc, "files.list", { limit: 2 });
  assert.equal(p1.files.length, 2);
  const p2 = await call(nc, "files.list", { limit: 2, cursor: p1.next });
  assert.deepEqual(p2.files.map((f: { path: string }) => f.path), ["other/c"]);
  assert.equal(p2.next, undefined);
  // Delete: a marker version; older versions stay readable
  assert.deepEqual(await call(nc, "files.delete", { path: "docs/a.txt" }), { path: "docs/a.txt", version: 3 });
  await refused(call(nc, "files.get", { path: "docs/a.txt" }), "not_found");
  await refused(call(nc, "files.stat", { path: "docs/a.txt" }), "not_found");
  assert.equal(unb64((await call(nc, "files.get", { path: "docs/a.txt", version: 2 })).content).toString(), "adiós");
  assert.deepEqual((await call(nc, "files.versions", { path: "docs/a.txt" })).versions.map((v: { version: number; deleted: boolean }) => [v.version, v.deleted]), [[1, false], [2, false], [3, true]]);
  assert.deepEqual((await call(nc, "files.list", {})).files.map((f: { path: string }) => f.path), ["docs/b.txt", "other/c"]);
  await refused(call(nc, "files.delete", { path: "docs/a.txt" }), "not_found");
  await refused(call(nc, "files.delete", { path: "nope" }), "not_found");
  await refused(call(nc, "files.versions", { path: "nope" }), "not_found");
  await refused(call(nc, "files.get", { path: "docs/b.txt", version: 9 }), "not_found");
  // A new write after a delete brings the path back
  assert.equal((await call(nc, "files.put", { path: "docs/a.txt", content: b64("otra") })).version, 4);
});

test("files ops - hostile paths are bad_request on every op", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  await fx.start();
  const hostile = ["", "/", "a//b", "a/./b", "a/../b", "..", ".", "a/", "a\u0000b", "a\nb", "a\u007fb", "x".repeat(1025), "\uD800x"];
  for (const path of hostile) {
    await refused(call(fx.nc, "files.put", { path, content: b64("x") }), "bad_request");
    await refused(call(fx.nc, "files.get", { path }), "bad_request");
    await refused(call(fx.nc, "files.upload.begin", { path, size: 1 }), "bad_request");
    await refused(call(fx.nc, "files.read", { path, offset: 0, length: 1 }), "bad_request");
    await refused(call(fx.nc, "files.share", { path }), "bad_request");
  }
  // 1024 bytes is fine, a multi-byte name too
  await call(fx.nc, "files.put", { path: "é/" + "x".repeat(1021), content: b64("x") });
  await refused(call(fx.nc, "files.put", { path: "a", content: b64("x"), extra: 1 }), "bad_request");
});

test("files ops - no user reaches another's files", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  await fx.start();
  await call(fx.nc, "files.put", { path: "secret", content: b64("mine") }, "alice");
  const up = await call(fx.nc, "files.upload.begin", { path: "big", size: 10 }, "alice");
  await refused(call(fx.nc, "files.get", { path: "secret" }, "bob"), "not_found");
  await refused(call(fx.nc, "files.stat", { path: "secret" }, "bob"), "not_found");
  await refused(call(fx.nc, "files.read", { path: "secret", offset: 0, length: 4 }, "bob"), "not_found");
  await refused(call(fx.nc, "files.versions", { path: "secret" }, "bob"), "not_found");
  await refused(call(fx.nc, "files.delete", { path: "secret" }, "bob"), "not_found");
  await refused(call(fx.nc, "files.share", { path: "secret" }, "bob"), "not_found");
  assert.deepEqual((await call(fx.nc, "files.list", {}, "bob")).files, []);
  for (const op of ["files.upload.status", "files.upload.commit", "files.upload.abort"]) await refused(call(fx.nc, op, { upload_id: up.upload_id }, "bob"), "not_found");
  await refused(call(fx.nc, "files.upload.chunk", { upload_id: up.upload_id, offset: 0, data: b64("x") }, "bob"), "not_found");
  // bob writing the same path gets his own version 1
  assert.equal((await call(fx.nc, "files.put", { path: "secret", content: b64("his") }, "bob")).version, 1);
  assert.equal(unb64((await call(fx.nc, "files.get", { path: "secret" }, "alice")).content).toString(), "mine");
});

test("files ops - uploads: chunks at offset == received, status, commit checks size and sha256, abort", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  await fx.start();
  const nc = fx.nc;
  const data = randomBytes(FILES_CHUNK_SIZE * 2 + 1000);
  const up = await call(nc, "files.upload.begin", { path: "up/big.bin", size: data.length, sha256: sha(data), content_type: "application/x-test" });
  assert.equal(up.chunk_size, FILES_CHUNK_SIZE);
  assert.deepEqual(await call(nc, "files.upload.chunk", { upload_id: up.upload_id, offset: 0, data: b64(data.subarray(0, FILES_CHUNK_SIZE)) }), { received: FILES_CHUNK_SIZE });
  const wrong = await refused(call(nc, "files.upload.chunk", { upload_id: up.upload_id, offset: 0, data: b64(data.subarray(0, 10)) }), "conflict");
  assert.deepEqual(wrong.details, { received: FILES_CHUNK_SIZE });
  await refused(call(nc, "files.upload.commit", { upload_id: up.upload_id }), "bad_request");
  assert.deepEqual(await call(nc, "files.upload.status", { upload_id: up.upload_id }), { upload_id: up.upload_id, path: "up/big.bin", size: data.length, received: FILES_CHUNK_SIZE });
  await call(nc, "files.upload.chunk", { upload_id: up.upload_id, offset: FILES_CHUNK_SIZE, data: b64(data.subarray(FILES_CHUNK_SIZE, 2 * FILES_CHUNK_SIZE)) });
  await refused(call(nc, "files.upload.chunk", { upload_id: up.upload_id, offset: 2 * FILES_CHUNK_SIZE, data: b64(Buffer.alloc(1001)) }), "bad_request");
  await call(nc, "files.upload.chunk", { upload_id: up.upload_id, offset: 2 * FILES_CHUNK_SIZE, data: b64(data.subarray(2 * FILES_CHUNK_SIZE)) });
  assert.deepEqual(await call(nc, "files.upload.commit", { upload_id: up.upload_id }), { path: "up/big.bin", version: 1, size: data.length, sha256: sha(data) });
  await refused(call(nc, "files.upload.status", { upload_id: up.upload_id }), "not_found");
  // Too large for files.get: the message names files.read
  const big = await refused(call(nc, "files.get", { path: "up/big.bin" }), "bad_request");
  assert.match(big.message, /files\.read/);
  // files.read at the edges
  const rd = async (offset: number, length: number) => call(nc, "files.read", { path: "up/big.bin", offset, length });
  assert.deepEqual(unb64((await rd(0, 1)).data), data.subarray(0, 1));
  const last = await rd(data.length - 1, 10);
  assert.deepEqual([unb64(last.data), last.eof], [data.subarray(data.length - 1), true]);
  const past = await rd(data.length + 5, 10);
  assert.deepEqual([past.data, past.eof], ["", true]);
  const mid = await rd(FILES_CHUNK_SIZE - 3, 6);
  assert.deepEqual([unb64(mid.data), mid.eof], [data.subarray(FILES_CHUNK_SIZE - 3, FILES_CHUNK_SIZE + 3), false]);
  // A wrong sha256: bad_request, nothing stored
  const bad = await call(nc, "files.upload.begin", { path: "up/bad", size: 3, sha256: "0".repeat(64) });
  await call(nc, "files.upload.chunk", { upload_id: bad.upload_id, offset: 0, data: b64("abc") });
  await refused(call(nc, "files.upload.commit", { upload_id: bad.upload_id }), "bad_request");
  await refused(call(nc, "files.stat", { path: "up/bad" }), "not_found");
  // Abort
  const ab = await call(nc, "files.upload.begin", { path: "up/ab", size: 3 });
  await call(nc, "files.upload.chunk", { upload_id: ab.upload_id, offset: 0, data: b64("ab") });
  assert.deepEqual(await call(nc, "files.upload.abort", { upload_id: ab.upload_id }), {});
  await refused(call(nc, "files.upload.status", { upload_id: ab.upload_id }), "not_found");
  await refused(call(nc, "files.upload.status", { upload_id: "u_00000000-0000" }), "not_found");
  await refused(call(nc, "files.upload.status", { upload_id: "../x" }), "bad_request");
  // An empty upload commits
  const empty = await call(nc, "files.upload.begin", { path: "up/empty", size: 0 });
  assert.equal((await call(nc, "files.upload.commit", { upload_id: empty.upload_id })).size, 0);
  // files.put over 768 KiB is refused
  await refused(call(nc, "files.put", { path: "x", content: b64(Buffer.alloc(FILES_INLINE_MAX + 1)) }), "bad_request");
});

test("files ops - uploads: chunks sent before the one before is answered go on from it; one that follows none in flight is conflict", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  await fx.start();
  const nc = fx.nc;
  const data = randomBytes(FILES_CHUNK_SIZE * 3 + 77);
  const up = await call(nc, "files.upload.begin", { path: "up/piped.bin", size: data.length, sha256: sha(data) });
  const at = [0, FILES_CHUNK_SIZE, 2 * FILES_CHUNK_SIZE, 3 * FILES_CHUNK_SIZE, data.length];
  // Four chunks at once: each answers the bytes counted through it.
  const replies = await Promise.all([0, 1, 2, 3].map((i) => call(nc, "files.upload.chunk", { upload_id: up.upload_id, offset: at[i], data: b64(data.subarray(at[i], at[i + 1])) })));
  assert.deepEqual(replies, [1, 2, 3, 4].map((i) => ({ received: at[i] })));
  assert.deepEqual(await call(nc, "files.upload.commit", { upload_id: up.upload_id }), { path: "up/piped.bin", version: 1, size: data.length, sha256: sha(data) });
  assert.ok(unb64((await call(nc, "files.read", { path: "up/piped.bin", offset: 0, length: 64 })).data).equals(data.subarray(0, 64)));
  // A chunk past `received` that follows no chunk in flight is still conflict.
  const gap = await call(nc, "files.upload.begin", { path: "up/gap", size: 20 });
  await call(nc, "files.upload.chunk", { upload_id: gap.upload_id, offset: 0, data: b64("0123456789") });
  const [, late] = await Promise.allSettled([
    call(nc, "files.upload.chunk", { upload_id: gap.upload_id, offset: 10, data: b64("abcde") }),
    call(nc, "files.upload.chunk", { upload_id: gap.upload_id, offset: 16, data: b64("fghi") }),
  ]);
  assert.equal(late.status, "rejected");
  assert.equal((late.reason as { code?: string }).code, "conflict");
  assert.equal((await call(nc, "files.upload.status", { upload_id: gap.upload_id })).received, 15);
});

test("files ops - the quota answers quota_exceeded on put, begin and commit", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url, { COLMENA_FILES_QUOTA_BYTES: "1000" });
  await fx.start();
  await call(fx.nc, "files.put", { path: "a", content: b64(Buffer.alloc(600)) });
  await refused(call(fx.nc, "files.put", { path: "b", content: b64(Buffer.alloc(500)) }), "quota_exceeded");
  await refused(call(fx.nc, "files.upload.begin", { path: "b", size: 401 }), "quota_exceeded");
  const up = await call(fx.nc, "files.upload.begin", { path: "b", size: 400 });
  await call(fx.nc, "files.put", { path: "c", content: b64(Buffer.alloc(300)) });
  await call(fx.nc, "files.upload.chunk", { upload_id: up.upload_id, offset: 0, data: b64(Buffer.alloc(400, 1)) });
  await refused(call(fx.nc, "files.upload.commit", { upload_id: up.upload_id }), "quota_exceeded");
  // Another user has their own quota
  await call(fx.nc, "files.put", { path: "a", content: b64(Buffer.alloc(900)) }, "u2");
});

test("files ops - share links name one version and expire", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  await fx.start();
  await call(fx.nc, "files.put", { path: "s", content: b64("v1") });
  const before = Date.now();
  const sh = await call(fx.nc, "files.share", { path: "s", ttl_s: 60 });
  assert.match(sh.url, /^\/v1\/share\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.ok(sh.expires_at >= before + 59_000 && sh.expires_at <= Date.now() + 61_000);
  await refused(call(fx.nc, "files.share", { path: "s", ttl_s: 8 * 24 * 3600 }), "bad_request");
  await refused(call(fx.nc, "files.share", { path: "nope" }), "not_found");
});

test("files ops - the whole service on the s3 blob store (s3rver): put, an upload over several parts, reads, one blob for two users' same bytes, the bucket made when missing", async () => {
  await using ns = await startNats();
  await using s3 = await startS3rver("colmena-files-ops");
  await using fx = await filesFixture(ns.url);
  const o = s3.options;
  await fx.start({ COLMENA_FILES_BLOB_STORE: "s3", S3_ENDPOINT: o.endpoint, S3_ACCESS_KEY: o.accessKey, S3_SECRET_KEY: o.secretKey, S3_BUCKET: o.bucket });
  const nc = fx.nc;
  await call(nc, "files.put", { path: "a.txt", content: b64("hola s3") });
  assert.equal(unb64((await call(nc, "files.get", { path: "a.txt" })).content).toString(), "hola s3");
  const data = randomBytes(FILES_CHUNK_SIZE * 3 + 17);
  for (const user of ["u1", "u2"]) {
    const up = await call(nc, "files.upload.begin", { path: "big.bin", size: data.length, sha256: sha(data) }, user);
    for (let at = 0; at < data.length; at += FILES_CHUNK_SIZE)
      await call(nc, "files.upload.chunk", { upload_id: up.upload_id, offset: at, data: b64(data.subarray(at, at + FILES_CHUNK_SIZE)) }, user);
    assert.equal((await call(nc, "files.upload.commit", { upload_id: up.upload_id }, user)).sha256, sha(data));
  }
  const read = await call(nc, "files.read", { path: "big.bin", offset: FILES_CHUNK_SIZE - 5, length: 10 }, "u2");
  assert.deepEqual(unb64(read.data), data.subarray(FILES_CHUNK_SIZE - 5, FILES_CHUNK_SIZE + 5));
  // What lies in the bucket: the small file's blob and one copy of the large one's (dedup across users).
  const { Client } = await import("minio");
  const url = new URL(o.endpoint);
  const client = new Client({ endPoint: url.hostname, port: Number(url.port), useSSL: false, accessKey: o.accessKey, secretKey: o.secretKey });
  let stored = 0;
  for await (const obj of client.listObjectsV2(o.bucket, "", true)) stored += (obj as { size: number }).size;
  assert.ok(stored > data.length && stored < 2 * data.length, `${stored} bytes stored for ${data.length} twice`);
});
