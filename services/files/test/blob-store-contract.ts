/**
 * What every blob store must do, as one suite run against each
 * implementation (blob-stores.test.ts).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { collect, type BlobStore } from "../src/blob-store.ts";

/** `total` bytes, each `size`-byte run filled with its index. */
function runs(total: number, size: number): Buffer {
  const b = Buffer.alloc(total);
  for (let at = 0; at < total; at += size) b.fill(at / size, at, Math.min(at + size, total));
  return b;
}

export async function blobStoreContract(store: BlobStore): Promise<void> {
  const p = `contract-${randomBytes(4).toString("hex")}/`;
  // A missing object
  assert.equal(await store.get(`${p}missing`), null);
  assert.equal(await store.size(`${p}missing`), null);
  await store.delete(`${p}missing`);

  // put, get, size
  const small = randomBytes(1000);
  await store.put(`${p}a`, small);
  assert.deepEqual(await collect((await store.get(`${p}a`))!), small);
  assert.equal(await store.size(`${p}a`), 1000);

  // an empty object
  await store.put(`${p}empty`, Buffer.alloc(0));
  assert.equal(await store.size(`${p}empty`), 0);
  assert.deepEqual(await collect((await store.get(`${p}empty`))!), Buffer.alloc(0));

  // ranges: first byte, last byte, middle, whole, empty
  const range = async (start: number, end: number) => collect((await store.get(`${p}a`, { start, end }))!);
  assert.deepEqual(await range(0, 1), small.subarray(0, 1));
  assert.deepEqual(await range(999, 1000), small.subarray(999));
  assert.deepEqual(await range(100, 357), small.subarray(100, 357));
  assert.deepEqual(await range(0, 1000), small);

  // a piece larger than one chunk of any store (3 MiB)
  await store.put(`${p}big`, runs(3 * 1024 * 1024, 100 * 1024));
  assert.equal(await store.size(`${p}big`), 3 * 1024 * 1024);
  const big = await collect((await store.get(`${p}big`))!);
  assert.equal(big.length, 3 * 1024 * 1024);
  assert.equal(big[0], 0);
  assert.equal(big[big.length - 1], Math.floor((3 * 1024 * 1024 - 1) / (100 * 1024)));
  const mid = await collect((await store.get(`${p}big`, { start: 100 * 1024 - 2, end: 100 * 1024 + 2 }))!);
  assert.deepEqual([...mid], [0, 0, 1, 1]);

  // a fresh key (a part): the same object as any put, whole, by range, empty, larger than a chunk
  const fresh = runs(2 * 1024 * 1024 + 77, 64 * 1024);
  await store.put(`${p}fresh`, fresh, { fresh: true });
  assert.equal(await store.size(`${p}fresh`), fresh.length);
  assert.deepEqual(await collect((await store.get(`${p}fresh`))!), fresh);
  assert.deepEqual(await collect((await store.get(`${p}fresh`, { start: 1024 * 1024 - 3, end: 1024 * 1024 + 5 }))!), fresh.subarray(1024 * 1024 - 3, 1024 * 1024 + 5));
  await store.put(`${p}fresh-empty`, Buffer.alloc(0), { fresh: true });
  assert.equal(await store.size(`${p}fresh-empty`), 0);
  assert.deepEqual(await collect((await store.get(`${p}fresh-empty`))!), Buffer.alloc(0));
  assert.deepEqual((await store.keys(`${p}fresh`)).sort(), [`${p}fresh`, `${p}fresh-empty`]);
  await store.delete(`${p}fresh`);
  await store.delete(`${p}fresh-empty`);
  assert.equal(await store.get(`${p}fresh`), null);

  // replace
  await store.put(`${p}a`, Buffer.from("second"));
  assert.equal((await collect((await store.get(`${p}a`))!)).toString(), "second");

  // keys by prefix
  assert.deepEqual((await store.keys(p)).sort(), [`${p}a`, `${p}big`, `${p}empty`]);
  assert.deepEqual(await store.keys(`${p}b`), [`${p}big`]);

  // delete
  await store.delete(`${p}a`);
  assert.equal(await store.get(`${p}a`), null);
  assert.deepEqual((await store.keys(p)).sort(), [`${p}big`, `${p}empty`]);
  await store.delete(`${p}big`);
  await store.delete(`${p}empty`);
  assert.deepEqual(await store.keys(p), []);
}
