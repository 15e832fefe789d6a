/**
 * The SDK's room tracking (libs/client/src/rooms.ts) as a class: joins and
 * history answered by a scripted `send`, so the order in which live messages
 * and rejoin replies arrive is chosen exactly. The end-to-end runs of the
 * same paths are in test/e2e/chat-failover.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { EventFrame } from "@colmena/protocol";
import { RoomTracker } from "../src/rooms.ts";

type Msg = { room: string; seq: number };
const live = (room: string, seq: number): EventFrame => ({ event: "chat.message", data: { room, seq } }) as EventFrame;

/** A `send` whose chat.join replies the test releases one by one; history answers empty. */
function scriptedServer(stored: Record<string, number[]>) {
  const joins: { room: string; since: number; answer: () => void }[] = [];
  let arrived: () => void = () => undefined;
  const send = (op: string, data: Record<string, unknown>): Promise<unknown> => {
    const room = String(data.room);
    if (op === "chat.history") return Promise.resolve({ messages: [], has_more: false });
    const since = Number(data.since_seq);
    const missed = stored[room].filter((s) => s > since).map((seq) => ({ room, seq }));
    return new Promise((resolve) => {
      joins.push({ room, since, answer: () => resolve({ epoch: "e", last_seq: stored[room].at(-1), missed, has_more: false }) });
      arrived();
    });
  };
  /** The next join asked, once it is. */
  const nextJoin = async () => {
    while (joins.length === 0) await new Promise<void>((r) => (arrived = r));
    return joins.shift()!;
  };
  return { send, nextJoin };
}

function tracked(rooms: Record<string, number>): RoomTracker {
  const t = new RoomTracker();
  for (const [room, last] of Object.entries(rooms)) t.observe("chat.join", { room }, { epoch: "e", last_seq: last });
  return t;
}

test("rooms - a live message of a room whose rejoin has not come yet is held, and its join asks from before the gap", async () => {
  const t = tracked({ a: 10, b: 20 });
  const server = scriptedServer({ a: [11, 12], b: [21, 22, 23, 24, 25] });
  const emitted: Msg[] = [];
  const done = t.rejoin(server.send, (f) => emitted.push(f.data as Msg));
  const a = await server.nextJoin();
  assert.equal(a.room, "a");
  // Room b's live messages resume while room a's join is under way: 25 must not move b past 21-24.
  assert.equal(t.accept(live("b", 25)), false, "held until b's missed ones are out");
  a.answer();
  const b = await server.nextJoin();
  assert.deepEqual([b.room, b.since], ["b", 20]);
  b.answer();
  await done;
  assert.deepEqual(emitted.map((m) => `${m.room}${m.seq}`), ["a11", "a12", "b21", "b22", "b23", "b24", "b25"]);
  assert.equal(t.accept(live("b", 25)), false, "a repeat afterwards is dropped");
  assert.equal(t.accept(live("b", 26)), true);
});

test("rooms - a second resync during a rejoin: live messages stay held until the second rejoin, which asks from where the first left", async () => {
  const t = tracked({ a: 10 });
  const stored = { a: [11, 12] };
  const server = scriptedServer(stored);
  const emitted: number[] = [];
  const first = t.rejoin(server.send, (f) => emitted.push((f.data as Msg).seq));
  const j1 = await server.nextJoin();
  const second = t.rejoin(server.send, (f) => emitted.push((f.data as Msg).seq));
  j1.answer(); // 11, 12
  // Stored during the second gap: 13 and 14 were lost in push; 15 arrives live.
  stored.a.push(13, 14, 15);
  assert.equal(t.accept(live("a", 15)), false);
  await first;
  assert.deepEqual(emitted, [11, 12], "the first rejoin's missed ones; 15 still held");
  const j2 = await server.nextJoin();
  assert.equal(j2.since, 12);
  j2.answer();
  await second;
  assert.deepEqual(emitted, [11, 12, 13, 14, 15]);
});
