import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { SharedText } from "../src/shared-text.ts";
import { framedWriter, wsSink } from "../src/ws.ts";

/** A real WebSocket pair on loopback: the server end, and the texts the client end receives. */
async function pair(t: { after(fn: () => unknown): void }) {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<WebSocket>((r) => wss.once("connection", r));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const got: string[] = [];
  client.on("message", (data, binary) => got.push(binary ? `binary:${(data as Buffer).length}` : String(data)));
  const closed = new Promise<number>((r) => client.once("close", r));
  const [ws] = await Promise.all([accepted, new Promise((r) => client.once("open", r))]);
  t.after(() => {
    client.terminate();
    wss.close();
    server.close();
  });
  return { ws, got, closed, until: async (n: number) => { for (let i = 0; got.length < n && i < 200; i++) await new Promise((r) => setTimeout(r, 10)); } };
}

test("ws sink - shared frames reach the socket through ws's own sender (ws 8 internals present: if this fails, pushes fell back to ws.send)", async (t) => {
  const { ws } = await pair(t);
  assert.ok(framedWriter(ws), "ws 8's _socket and _sender.sendFrame");
});

test("ws sink - replies, shared pushes and binaries written in one tick arrive whole, as separate messages, in the order written", async (t) => {
  const { ws, got, until } = await pair(t);
  const sink = wsSink(ws);
  const push = new SharedText(`{"event":"e","data":"ñandú ✓ 🐝"}`);
  const big = new SharedText(JSON.stringify({ event: "big", data: "x".repeat(70_000) })); // a 64-bit length header
  const want: string[] = [];
  for (let i = 0; i < 50; i++) {
    sink.writeText(`{"id":${i},"ok":true}`);
    sink.writeShared(push);
    want.push(`{"id":${i},"ok":true}`, push.text);
  }
  sink.writeBinary(new Uint8Array(3));
  sink.writeShared(big);
  want.push("binary:3", big.text);
  await until(want.length);
  assert.deepEqual(got, want);
  // One frame built for all the sends of one push.
  assert.equal(push.wsFrame?.length, Buffer.byteLength(push.text) + 2);
});

test("ws sink - a shared push after a close is dropped, as ws.send drops it, and nothing throws", async (t) => {
  const { ws, got, closed, until } = await pair(t);
  const sink = wsSink(ws);
  sink.writeShared(new SharedText(`{"event":"before"}`));
  sink.close("bye", true);
  sink.writeShared(new SharedText(`{"event":"after"}`));
  assert.equal(await closed, 1000);
  await until(2);
  assert.deepEqual(got, [`{"event":"before"}`]);
});
