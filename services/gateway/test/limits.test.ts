import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { WebSocket } from "ws";
import { OPS, userChannel } from "@colmena/protocol";
import { publishEvent } from "@colmena/runtime";
import { startRig, sleep, until } from "./helpers.ts";

test("limits - over the rate limit requests answer rate_limited with retry_after_ms and the connection stays open", async () => {
  await using rig = await startRig({ overrides: { rateLimit: 5 } });
  const c = await rig.tcp();
  c.socket.write(Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: i, op: "ping" })).join("\n") + "\n");
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => c.reply(i)));
  const ok = replies.filter((r) => r.ok);
  const limited = replies.filter((r) => !r.ok);
  assert.ok(ok.length >= 5 && ok.length <= 7, `burst of 5 (+ refill): ${ok.length} passed`);
  assert.ok(limited.length >= 13);
  for (const r of limited) {
    assert.equal(r.error.code, "rate_limited");
    assert.ok(r.error.retry_after_ms > 0 && r.error.retry_after_ms <= 200, String(r.error.retry_after_ms));
  }
  await sleep(Math.max(...limited.map((r) => r.error.retry_after_ms)) + 20);
  assert.equal((await c.request("ping")).ok, true, "allowed again after retry_after_ms");
});

/** Heap plus Buffer memory after a full collection: what the process really holds. */
function liveBytes(gc: () => void): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

test("limits - a client that stops reading is disconnected and the gateway's memory stays bounded", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  await using rig = await startRig({ overrides: { outbufBytes: 1 << 20 } });
  const slow = await rig.login("u-slow", "slow");
  const other = await rig.login("u-other", "other");
  slow.socket.pause(); // never reads again
  const event = { pad: "x".repeat(256 * 1024) };
  const baseline = liveBytes(gc);
  let peak = 0;
  let sent = 0;
  for (let batch = 0; batch < 48; batch++) {
    for (let i = 0; i < 8; i++) publishEvent(rig.nc, userChannel("u-slow"), "test.big", event);
    await rig.nc.flush();
    sent += 8 * 256 * 1024;
    await sleep(5);
    peak = Math.max(peak, liveBytes(gc) - baseline);
  }
  assert.ok(sent >= 96 << 20);
  if (process.env.GATEWAY_TEST_VERBOSE) console.log(`peak growth ${(peak / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(peak < 40 << 20, `memory grew by ${(peak / 2 ** 20).toFixed(1)} MiB while ${sent / 2 ** 20} MiB were pushed`);
  await until(() => rig.gw.connections() === 1, 5000, "the slow connection to be dropped");
  assert.equal((await other.request("ping")).ok, true, "other connections are unaffected");
});

test("limits - a WebSocket client that stops reading is disconnected and the gateway's memory stays bounded", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  await using rig = await startRig({ overrides: { outbufBytes: 1 << 20 } });
  const slow = await rig.ws();
  assert.equal((await slow.request("auth.token", { access_token: await rig.token("u-wslow") })).ok, true);
  const other = await rig.login("u-other", "other");
  // Stop reading at the socket: the kernel buffers fill, then the gateway's bufferedAmount grows.
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const event = { pad: "x".repeat(256 * 1024) };
  const baseline = liveBytes(gc);
  let peak = 0;
  for (let batch = 0; batch < 48 && rig.gw.connections() === 2; batch++) {
    for (let i = 0; i < 8; i++) publishEvent(rig.nc, userChannel("u-wslow"), "test.big", event);
    await rig.nc.flush();
    await sleep(5);
    peak = Math.max(peak, liveBytes(gc) - baseline);
  }
  assert.ok(peak < 40 << 20, `memory grew by ${(peak / 2 ** 20).toFixed(1)} MiB`);
  await until(() => rig.gw.connections() === 1, 5000, "the slow WebSocket to be dropped");
  assert.equal((await other.request("ping")).ok, true, "other connections are unaffected");
});

test("limits - a connection that sends nothing for the idle timeout is closed; one that talks stays", async () => {
  await using rig = await startRig({ overrides: { idleTimeoutMs: 300 } });
  const quiet = await rig.tcp();
  const chatty = await rig.tcp();
  const started = Date.now();
  const stop = Date.now() + 1200;
  while (Date.now() < stop) {
    assert.equal((await chatty.request("ping")).ok, true);
    await sleep(100);
  }
  await quiet.closed;
  assert.ok(Date.now() - started < 1500);
  // A WebSocket that answers pings counts as alive; one that does not is closed.
  const alive = await rig.ws();
  const deaf = new WebSocket(`ws://127.0.0.1:${rig.gw.ports.http}/ws`, { autoPong: false });
  const deafClosed = new Promise((r) => deaf.once("close", r));
  await new Promise((r) => deaf.once("open", r));
  await deafClosed;
  assert.equal((await alive.request("ping")).ok, true, "the WebSocket that answers pings is still open");
});

const opNames = Object.keys(OPS);
const hostileFrame = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({ id: fc.oneof(fc.integer(), fc.string(), fc.anything()), op: fc.oneof(fc.constantFrom(...opNames), fc.string()), data: fc.anything() }, { requiredKeys: [] }).map((v) => JSON.stringify(v) ?? "null"),
  fc.record({ id: fc.nat(), op: fc.constantFrom(...opNames), data: fc.dictionary(fc.string(), fc.jsonValue()) }).map((v) => JSON.stringify(v)),
  fc.record({ tipo: fc.anything(), contenido: fc.anything(), tarea_id: fc.anything() }, { requiredKeys: [] }).map((v) => JSON.stringify(v) ?? "{}"),
  fc.string({ unit: "binary" }),
  fc.constantFrom('{"id":1,"op":"__proto__"}', '{"id":1,"op":"constructor"}', '{"__proto__":{"id":1},"op":"ping"}', '{"id":1,"op":"ping","data":{"__proto__":{"x":1}}}', "\u0000", "\uffff", "{".repeat(5000), "[".repeat(5000) + "]".repeat(5000)),
);

test("limits - 1000 random and hostile frames leave the gateway answering ping", async () => {
  await using rig = await startRig({ overrides: { rateLimit: 1_000_000 } });
  const anon = await rig.tcp();
  const user = await rig.login("u-fuzz", "fuzz");
  const ws = await rig.ws(undefined, { token: await rig.token("u-fuzz", "fuzz") });
  const frames = fc.sample(hostileFrame, { numRuns: 1000, seed: 42 });
  const bytes = fc.sample(fc.uint8Array({ maxLength: 256 }), { numRuns: 100, seed: 7 });
  for (const [i, f] of frames.entries()) {
    const line = f.replace(/\n/g, " ");
    (i % 2 ? anon : user).sendRaw(line);
    ws.sendRaw(f);
  }
  for (const b of bytes) {
    ws.sendRaw(b);
    user.socket.write(b);
  }
  user.socket.write("\n");
  for (const c of [anon, user, ws]) {
    c.send({ id: "after-the-storm", op: "ping" });
    const r = await c.reply("after-the-storm", 15_000);
    assert.equal(r.ok, true, JSON.stringify(r));
  }
  const fresh = await rig.tcp();
  assert.equal((await fresh.request("ping")).ok, true);
});
