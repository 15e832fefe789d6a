import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { BUCKETS } from "@colmena/protocol";
import { startNats } from "@colmena/testing";
import { newUploadId } from "../src/uploads.ts";
import { b64, call, filesFixture, unb64 } from "./helpers.ts";

test("files replicas - concurrent writers on one path get distinct versions and none is lost", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  await fx.start();
  await fx.start();
  const n = 20;
  const replies = await Promise.all(Array.from({ length: n }, (_, i) => call(fx.nc, "files.put", { path: "race", content: b64(`w${i}`) })));
  assert.deepEqual(replies.map((r) => r.version).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1));
  const versions = (await call(fx.nc, "files.versions", { path: "race" })).versions;
  assert.equal(versions.length, n);
  // Every writer's content is the version it was told it got.
  for (const [i, r] of replies.entries()) assert.equal(unb64((await call(fx.nc, "files.get", { path: "race", version: r.version })).content).toString(), `w${i}`);
});

test("files replicas - an upload begun on a replica that dies is resumed and committed on another", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  const first = await fx.start();
  const data = randomBytes(300_000);
  const up = await call(fx.nc, "files.upload.begin", { path: "resumed", size: data.length });
  await call(fx.nc, "files.upload.chunk", { upload_id: up.upload_id, offset: 0, data: b64(data.subarray(0, 100_000)) });
  // Abruptly: the connection dropped, nothing drained or stopped.
  await first.nc.close();
  await fx.start();
  // The next replica reads the upload from the stream leader: a direct get may be answered by a replica that lags.
  const { config } = await (await jetstreamManager(fx.nc)).streams.info(`KV_${BUCKETS.filesUploads.name}`);
  assert.equal(config.allow_direct, false, "uploads are read from the stream leader");
  const st = await call(fx.nc, "files.upload.status", { upload_id: up.upload_id });
  assert.equal(st.received, 100_000);
  await call(fx.nc, "files.upload.chunk", { upload_id: up.upload_id, offset: st.received, data: b64(data.subarray(st.received)) });
  const done = await call(fx.nc, "files.upload.commit", { upload_id: up.upload_id });
  assert.equal(done.size, data.length);
  const back = await call(fx.nc, "files.read", { path: "resumed", offset: 0, length: data.length });
  assert.deepEqual(unb64(back.data), data);
});

test("files replicas - the same content from two users is stored once, and the collector keeps it while referenced", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  const f = await fx.start();
  const content = randomBytes(5000);
  const a = await call(fx.nc, "files.put", { path: "x", content: b64(content) }, "alice");
  const b = await call(fx.nc, "files.put", { path: "y/z", content: b64(content) }, "bob");
  assert.equal(a.sha256, b.sha256);
  assert.deepEqual(await f.blobs.hashes(), [a.sha256]);
  assert.equal((await f.blobs.pieceBlobs()).length, 1);
  assert.equal(f.queries.refCount(a.sha256), 2);
  assert.equal((await f.collect(0)).blobs, 0);
  // An aborted upload's staged parts go with it; an expired one's are swept.
  const up = await call(fx.nc, "files.upload.begin", { path: "gone", size: 10 }, "alice");
  await call(fx.nc, "files.upload.chunk", { upload_id: up.upload_id, offset: 0, data: b64("12345") }, "alice");
  assert.equal((await f.blobs.store.keys("u/")).length, 1);
  await call(fx.nc, "files.upload.abort", { upload_id: up.upload_id }, "alice");
  assert.deepEqual(await f.blobs.store.keys("u/"), []);
  await f.blobs.store.put("u/u_000000001-abandoned/0000000000000000", Buffer.from("x"));
  assert.equal((await f.collect(0)).uploads, 1);
  assert.deepEqual(await f.blobs.store.keys("u/"), []);
});

test("files replicas - two writers racing for one offset on two replicas: the upload holds exactly the winner's bytes", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  await fx.start();
  await fx.start();
  for (let round = 0; round < 6; round++) {
    const a = randomBytes(200_000);
    const b = randomBytes(200_000);
    const up = await call(fx.nc, "files.upload.begin", { path: `race-${round}`, size: a.length });
    const [ra, rb] = await Promise.allSettled([a, b].map((d) => call(fx.nc, "files.upload.chunk", { upload_id: up.upload_id, offset: 0, data: b64(d) })));
    const won = [ra, rb].filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1, "exactly one writer gets the offset");
    assert.equal((ra.status === "rejected" ? ra : rb).status, "rejected");
    await call(fx.nc, "files.upload.commit", { upload_id: up.upload_id });
    const back = unb64((await call(fx.nc, "files.read", { path: `race-${round}`, offset: 0, length: a.length })).data);
    assert.deepEqual(back, ra.status === "fulfilled" ? a : b);
  }
});

test("files replicas - an upload's chunks, taken by two replicas, become its blob without being written again; the same content again keeps one copy", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  const a = await fx.start();
  const b = await fx.start();
  const data = randomBytes(10 * 65_536 + 123);
  const sha = createHash("sha256").update(data).digest("hex");
  const upload = async (path: string) => {
    const up = await call(fx.nc, "files.upload.begin", { path, size: data.length, sha256: sha });
    // Chunks not aligned to segments, each to whichever replica takes it.
    for (let at = 0; at < data.length; at += 70_000) await call(fx.nc, "files.upload.chunk", { upload_id: up.upload_id, offset: at, data: b64(data.subarray(at, at + 70_000)) });
    return up.upload_id as string;
  };
  const first = await upload("one");
  // Neither replica keeps a running hash now: the commit reads the counted parts back.
  a.uploads.hashes.forget(first);
  b.uploads.hashes.forget(first);
  const parts = (await a.blobs.store.keys("u/")).sort();
  assert.equal(parts.length, Math.ceil(data.length / 70_000));
  assert.equal((await call(fx.nc, "files.upload.commit", { upload_id: first })).sha256, sha);
  assert.deepEqual((await a.blobs.store.keys("u/")).sort(), parts, "the parts are the blob");
  assert.deepEqual(await a.blobs.store.keys("p/"), [], "no byte was written again");
  assert.equal((await a.blobs.manifest(sha))?.base, `u/${first}/`);
  assert.deepEqual(unb64((await call(fx.nc, "files.read", { path: "one", offset: 0, length: data.length })).data), data);
  assert.deepEqual(unb64((await call(fx.nc, "files.read", { path: "one", offset: 69_990, length: 20 })).data), data.subarray(69_990, 70_010));
  const second = await upload("two");
  assert.equal((await call(fx.nc, "files.upload.commit", { upload_id: second })).sha256, sha);
  assert.deepEqual((await a.blobs.store.keys("u/")).sort(), parts, "the duplicate's parts are dropped");
  assert.deepEqual(unb64((await call(fx.nc, "files.read", { path: "two", offset: 0, length: data.length })).data), data);
});

test("files replicas - a replica's kept upload state gone stale (another replica moved the upload on) answers conflict, never counts a chunk twice", async () => {
  await using ns = await startNats();
  await using fx = await filesFixture(ns.url);
  const a = await fx.start();
  const b = await fx.start();
  const n = 70_000;
  const [d0, d1, dx, d2] = [randomBytes(n), randomBytes(n), randomBytes(n), randomBytes(n)];
  const id = newUploadId();
  await a.uploads.begin({ upload_id: id, user: "u1", path: "stale", size: 3 * n, content_type: "application/octet-stream", created_at: Date.now() });
  assert.equal(await a.uploads.chunk("u1", id, 0, d0), n);
  // b takes the next chunk: a still keeps the state it wrote (received n).
  assert.equal(await b.uploads.chunk("u1", id, n, d1), 2 * n);
  // A late retry of offset n on a: its kept state agrees with the offset, the KV entry does not.
  await assert.rejects(a.uploads.chunk("u1", id, n, dx), (err: { code?: string; details?: { received?: number } }) => err.code === "conflict" && err.details?.received === 2 * n);
  // The right offset goes on from the KV entry, on the replica whose kept state was stale.
  assert.equal(await a.uploads.chunk("u1", id, 2 * n, d2), 3 * n);
  const { state } = await b.uploads.get("u1", id);
  assert.equal(state.parts.length, 3);
  assert.equal(await b.uploads.sha256(state), createHash("sha256").update(Buffer.concat([d0, d1, d2])).digest("hex"));
});
