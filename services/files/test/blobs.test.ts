import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { startNats } from "@colmena/testing";
import { ColmenaError } from "@colmena/protocol";
import { collect } from "../src/blob-store.ts";
import { Blobs, PIECE } from "../src/blobs.ts";
import { SEGMENT, sealPart, wrapKey } from "../src/blob-crypto.ts";
import { collectGarbage } from "../src/gc.ts";
import { openNatsBlobStore } from "../src/nats-blob-store.ts";
import { openS3BlobStore } from "../src/s3-blob-store.ts";
import { startS3rver } from "./s3-servers.ts";

const master = randomBytes(32);
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
async function* inChunks(b: Buffer, size: number) {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
const read = async (blobs: Blobs, h: string, start?: number, end?: number) => collect(blobs.read(h, start, end));

test("blobs - content round-trips at every segment and piece edge, and ranges decrypt alone", async () => {
  await using s3 = await startS3rver();
  const blobs = new Blobs(await openS3BlobStore(s3.options), master);
  const piece = PIECE;
  for (const size of [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, piece, piece + 3]) {
    const data = randomBytes(size);
    const stored = await blobs.write(inChunks(data, 10_000));
    assert.equal(stored.sha256, sha(data));
    assert.equal(stored.size, size);
    assert.deepEqual(await read(blobs, stored.sha256), data, `size ${size}`);
  }
  const data = randomBytes(piece + SEGMENT * 2 + 5);
  const h = (await blobs.write(inChunks(data, 300_000))).sha256;
  for (const [s, e] of [[0, 1], [data.length - 1, data.length], [SEGMENT - 1, SEGMENT + 1], [piece - 2, piece + 2], [10, data.length], [data.length, data.length + 9]]) {
    assert.deepEqual(await read(blobs, h, s, e), data.subarray(s, e), `range ${s}-${e}`);
  }
  // The bytes at rest are not the plaintext.
  const m = (await blobs.manifest(h))!;
  const rest = await collect((await blobs.store.get(`p/${m.blob}/0`))!);
  assert.equal(rest.indexOf(data.subarray(0, 64)), -1);
});

test("blobs - identical content is stored once", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  try {
    const store = await openNatsBlobStore(nc, "colmena_files_test");
    const blobs = new Blobs(store, master);
    const data = randomBytes(200_000);
    const a = await blobs.write(inChunks(data, 64_000));
    const b = await blobs.write(inChunks(data, 7_000));
    assert.equal(a.sha256, b.sha256);
    assert.equal(a.deduplicated, false);
    assert.equal(b.deduplicated, true);
    assert.equal((await blobs.pieceBlobs()).length, 1);
    assert.deepEqual(await blobs.hashes(), [a.sha256]);
  } finally {
    await nc.close();
  }
});

test("blobs - a tampered segment is answered internal and none of its bytes are returned", async () => {
  await using s3 = await startS3rver();
  const blobs = new Blobs(await openS3BlobStore(s3.options), master);
  const data = randomBytes(SEGMENT * 3);
  const h = (await blobs.write(inChunks(data, SEGMENT))).sha256;
  const m = (await blobs.manifest(h))!;
  const key = `p/${m.blob}/0`;
  const sealed = await collect((await blobs.store.get(key))!);
  // Flip one bit of the second segment's ciphertext.
  const record = SEGMENT + 28;
  sealed[record + 100] ^= 1;
  await blobs.store.put(key, sealed);
  const seen: Buffer[] = [];
  await assert.rejects(async () => {
    for await (const part of blobs.read(h)) seen.push(part);
  }, (e) => e instanceof ColmenaError && e.code === "internal");
  assert.deepEqual(Buffer.concat(seen), data.subarray(0, SEGMENT), "only the intact first segment came out");
  // A range within the intact segments still reads; one over the bad segment does not.
  assert.deepEqual(await read(blobs, h, 2 * SEGMENT, 2 * SEGMENT + 10), data.subarray(2 * SEGMENT, 2 * SEGMENT + 10));
  await assert.rejects(read(blobs, h, SEGMENT, SEGMENT + 1), (e) => e instanceof ColmenaError && e.code === "internal");
  // Another master key cannot open the data key.
  await assert.rejects(read(new Blobs(blobs.store, randomBytes(32)), h, 0, 1), (e) => e instanceof ColmenaError && e.code === "internal");
});

test("blobs - the collector removes blobs no version names and orphan pieces, after the grace period", async () => {
  await using s3 = await startS3rver();
  const blobs = new Blobs(await openS3BlobStore(s3.options), master);
  const kept = await blobs.write(inChunks(randomBytes(1000), 1000));
  const unused = await blobs.write(inChunks(randomBytes(1000), 1000));
  // An orphan: pieces whose write never got its manifest.
  await blobs.store.put("p/000000001-deadbeef/0", Buffer.from("x"));
  const refs = (h: string) => (h === kept.sha256 ? 1 : 0);
  assert.deepEqual(await collectGarbage(blobs, refs, 60_000), { blobs: 0, orphanPieces: 1 }, "fresh blobs wait out the grace period; the old orphan goes");
  assert.deepEqual(await collectGarbage(blobs, refs, 60_000, Date.now() + 120_000), { blobs: 1, orphanPieces: 0 });
  assert.deepEqual(await blobs.hashes(), [kept.sha256]);
  assert.equal(await blobs.has(unused.sha256), false);
  assert.equal((await blobs.pieceBlobs()).length, 1);
  assert.equal((await read(blobs, kept.sha256)).length, 1000);
});

test("blobs - a blob stored before parts (manifest version 1: pieces of segments authenticated by index) still reads, ranges too", async () => {
  await using s3 = await startS3rver();
  const store = await openS3BlobStore(s3.options);
  const blobs = new Blobs(store, master);
  const key = randomBytes(32);
  const blob = "000000001-0123456789abcdef";
  const data = randomBytes(3 * SEGMENT + 10);
  // As main wrote it: `per_piece` segments per piece, segment i sealed with AAD `<blob>:<i>:<last>`.
  const seg = (i: number) => sealPart(key, blob, i, data.subarray(i * SEGMENT, (i + 1) * SEGMENT), i === 3);
  await store.put(`p/${blob}/0`, Buffer.concat([seg(0), seg(1)]));
  await store.put(`p/${blob}/1`, Buffer.concat([seg(2), seg(3)]));
  const h = sha(data);
  const m = { v: 1, blob, sha256: h, size: data.length, segment: SEGMENT, per_piece: 2, created_at: Date.now() };
  await store.put(`m/${h}`, Buffer.from(JSON.stringify({ ...m, key: wrapKey(master, key, `${blob}:${h}:${data.length}`) })));
  assert.deepEqual(await read(blobs, h), data);
  assert.deepEqual(await read(blobs, h, 2 * SEGMENT - 3, 2 * SEGMENT + 3), data.subarray(2 * SEGMENT - 3, 2 * SEGMENT + 3));
  assert.deepEqual(await read(blobs, h, data.length - 1, data.length), data.subarray(data.length - 1));
  await blobs.remove(h);
  assert.deepEqual(await store.keys(`p/${blob}/`), [], "its pieces go with it");
});
