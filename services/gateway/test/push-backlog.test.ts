import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { PushBacklog } from "../src/push-backlog.ts";

/** Keeps the thread busy, as a push written to many sockets does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !ok(); i++) await nextTurn();
  assert.ok(ok(), what);
}

test("push backlog - pushes within a turn's slice go out at once, in order", () => {
  const out: number[] = [];
  const b = new PushBacklog({ sliceMs: 1_000, maxBytes: 1 << 20, onDrop: () => assert.fail("nothing dropped") });
  for (let i = 0; i < 5; i++) b.submit(10, () => out.push(i));
  assert.deepEqual(out, [0, 1, 2, 3, 4]);
  assert.equal(b.waiting, 0);
});

test("push backlog - past the slice pushes wait, keep their order, and the event loop gets its turns between slices", async () => {
  const out: number[] = [];
  const b = new PushBacklog({ sliceMs: 5, maxBytes: 1 << 20, onDrop: () => assert.fail("nothing dropped") });
  const turns: number[] = [];
  // Each push takes 3 ms: two fill a slice, the rest wait.
  for (let i = 0; i < 10; i++) b.submit(10, () => { busy(3); out.push(i); });
  assert.ok(out.length >= 1 && out.length <= 3, `only a slice's worth went out at once (${out.length})`);
  assert.ok(b.waiting > 0);
  // What the loop reads between slices (NATS, sockets) runs before the backlog is done.
  setImmediate(() => turns.push(out.length));
  await until("everything delivered", () => out.length === 10);
  assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(turns.length, 1);
  assert.ok(turns[0] < 10, `the loop had a turn before the backlog was drained (after ${turns[0]})`);
  assert.equal(b.waitingBytes, 0);
});

test("push backlog - a push arriving while others wait goes behind them", async () => {
  const out: string[] = [];
  const b = new PushBacklog({ sliceMs: 2, maxBytes: 1 << 20, onDrop: () => assert.fail("nothing dropped") });
  b.submit(1, () => { busy(3); out.push("a"); });
  b.submit(1, () => out.push("b"));
  await nextTurn();
  await nextTurn();
  b.submit(1, () => out.push("c"));
  await until("all three", () => out.length === 3);
  assert.deepEqual(out, ["a", "b", "c"]);
});

test("push backlog - past its bytes the oldest waiting pushes are dropped and counted, the newest kept", async () => {
  const out: number[] = [];
  let dropped = 0;
  const b = new PushBacklog({ sliceMs: 1, maxBytes: 100, onDrop: (n) => { dropped += n; } });
  b.submit(40, () => { busy(2); out.push(0); }); // delivered at once, and spends the slice
  for (let i = 1; i <= 10; i++) b.submit(40, () => out.push(i));
  assert.equal(dropped, 8, "10 x 40 bytes waiting against 100: 8 oldest dropped");
  assert.equal(b.waiting, 2);
  await until("the rest delivered", () => b.waiting === 0);
  assert.deepEqual(out, [0, 9, 10]);
});
