import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { startSystem } from "./harness.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test("files e2e - MessagePack clients send and receive raw bytes, JSON clients base64, through the gateway", async () => {
  await using sys = await startSystem({ services: ["auth", "files"] });
  const packed = await sys.user({ transport: "ws", codec: "msgpack" });
  const bytes = randomBytes(200_000);
  const put = await packed.client.request<{ sha256: string; size: number }>("files.put", { path: "raw.bin", content: bytes });
  assert.deepEqual([put.size, put.sha256], [bytes.length, sha(bytes)]);
  const got = await packed.client.request<{ content: unknown }>("files.get", { path: "raw.bin" });
  assert.ok(got.content instanceof Uint8Array, "a MessagePack client gets raw bytes");
  assert.deepEqual(Buffer.from(got.content as Uint8Array), bytes);
  const read = await packed.client.request<{ data: unknown; eof: boolean }>("files.read", { path: "raw.bin", offset: bytes.length - 3, length: 10 });
  assert.deepEqual([Buffer.from(read.data as Uint8Array), read.eof], [bytes.subarray(bytes.length - 3), true]);
  // Uploads with raw chunks
  const up = await packed.client.request<{ upload_id: string; chunk_size: number }>("files.upload.begin", { path: "up.bin", size: bytes.length, sha256: sha(bytes) });
  for (let at = 0; at < bytes.length; at += 64_000) await packed.client.request("files.upload.chunk", { upload_id: up.upload_id, offset: at, data: bytes.subarray(at, at + 64_000) });
  assert.equal((await packed.client.request<{ sha256: string }>("files.upload.commit", { upload_id: up.upload_id })).sha256, sha(bytes));

  // A JSON client (TCP) writes and reads base64.
  const plain = await sys.user();
  await plain.client.request("files.put", { path: "t.txt", content: Buffer.from("hola").toString("base64") });
  const back = await plain.client.request<{ content: unknown }>("files.get", { path: "t.txt" });
  assert.equal(back.content, Buffer.from("hola").toString("base64"));
  // And neither sees the other's files.
  assert.deepEqual((await plain.client.request<{ files: unknown[] }>("files.list", {})).files.map((f) => (f as { path: string }).path), ["t.txt"]);
  // Errors still come back as errors to MessagePack clients.
  await assert.rejects(packed.client.request("files.get", { path: "a/../b" }), (e: { code?: string }) => e.code === "bad_request");
});
