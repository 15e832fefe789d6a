/**
 * The chat ops of protocol.md section 6 through the real gateway and chat
 * service, over TCP and WebSocket: every op, its error cases, private-room
 * isolation, idempotent resends, receipts and unread counts, mentions, and
 * ciphertext stored as sent.
 */
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import type { ColmenaClient } from "@colmena/client";
import { uniqueName, waitUntil } from "@colmena/testing";
import { isCode, startSystem, type System, type TestUser } from "./harness.ts";

let sys: System;
before(async () => {
  sys = await startSystem({ services: ["auth", "chat"] });
});
after(async () => {
  await sys?.stop();
});

type Msg = { room: string; seq: number; msg_id: string; from: string; body?: string; ciphertext?: string; enc?: unknown; ts: number; mentions?: string[] };
const room = () => uniqueName("r").toLowerCase().replace(/[^a-z0-9_-]/g, "");
/** Waits until `c`'s chat replica has folded message `seq` of room `r`: another user's send is read-your-writes for its sender, not for `c`. */
async function folded(c: ColmenaClient, r: string, seq: number): Promise<void> {
  const readable = async () => (await c.request<{ messages: { seq: number }[] }>("chat.history", { room: r, after_seq: seq - 1, limit: 1 })).messages.some((m) => m.seq === seq);
  await waitUntil(`message ${seq} of ${r} readable`, readable);
}
function collect<T>(c: ColmenaClient, event: string): T[] {
  const got: T[] = [];
  c.on(event, (d) => got.push(d as T));
  return got;
}

for (const transport of ["tcp", "ws"] as const) {
  describe(`chat over ${transport}`, () => {
    let ana: TestUser;
    let bob: TestUser;
    before(async () => {
      ana = await sys.user({ prefix: "ana", transport });
      bob = await sys.user({ prefix: "bob", transport });
    });

    test(`chat - ${transport}: lobby exists; join, send, live message without echo, history`, async () => {
      const toBob = collect<Msg>(bob.client, "chat.message");
      const toAna = collect<Msg>(ana.client, "chat.message");
      const j = await ana.client.request<{ room: string; last_seq: number; epoch: string; online: string[] }>("chat.join", { room: "lobby" });
      assert.equal(j.room, "lobby");
      assert.equal(typeof j.epoch, "string");
      assert.ok(j.online.includes(ana.username));
      await bob.client.request("chat.join", { room: "lobby" });
      const s = await ana.client.request<{ room: string; seq: number; msg_id: string; ts: number }>("chat.send", { room: "lobby", body: `hola ${transport}` });
      assert.ok(s.seq > j.last_seq);
      await waitUntil("bob gets it", () => toBob.some((m) => m.seq === s.seq));
      const m = toBob.find((x) => x.seq === s.seq)!;
      assert.deepEqual({ room: m.room, from: m.from, body: m.body, msg_id: m.msg_id, ts: m.ts }, { room: "lobby", from: ana.username, body: `hola ${transport}`, msg_id: s.msg_id, ts: s.ts });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(toAna.filter((x) => x.seq === s.seq).length, 0, "no echo to the sender");
      await folded(bob.client, "lobby", s.seq);
      const h = await bob.client.request<{ messages: Msg[]; has_more: boolean }>("chat.history", { room: "lobby", after_seq: j.last_seq });
      assert.deepEqual(h.messages.map((x) => x.seq), [s.seq]);
      assert.equal(h.has_more, false);
    });

    test(`chat - ${transport}: bad input is bad_request; unknown room not_found; create twice conflict`, async () => {
      await assert.rejects(ana.client.request("chat.join", { room: "Bad.Room" }), isCode("bad_request"));
      await assert.rejects(ana.client.request("chat.join", { room: "lobby", extra: 1 }), isCode("bad_request"));
      await assert.rejects(ana.client.request("chat.send", { room: "lobby" }), isCode("bad_request"));
      await assert.rejects(ana.client.request("chat.send", { room: "lobby", body: "x", ciphertext: "eA==" }), isCode("bad_request"));
      await assert.rejects(ana.client.request("chat.send", { room: "lobby", body: "x".repeat(16 * 1024 + 1) }), isCode("bad_request"));
      await assert.rejects(ana.client.request("chat.send", { room: "lobby", ciphertext: "not base64!" }), isCode("bad_request"));
      await assert.rejects(ana.client.request("chat.history", { room: "lobby", limit: 201 }), isCode("bad_request"));
      await assert.rejects(ana.client.request("chat.join", { room: room() }), isCode("not_found"));
      await assert.rejects(ana.client.request("chat.create", { room: "lobby" }), isCode("conflict"));
      const r = room();
      const c = await ana.client.request<{ room: string; created_at: number }>("chat.create", { room: r, title: "T" });
      assert.equal(c.room, r);
      await assert.rejects(bob.client.request("chat.create", { room: r }), isCode("conflict"));
      // A public room needs a join before send or history.
      await assert.rejects(bob.client.request("chat.send", { room: r, body: "x" }), isCode("forbidden"));
      await assert.rejects(bob.client.request("chat.receipt", { room: r, seq: 1, kind: "read" }), isCode("forbidden"));
      await bob.client.request("chat.join", { room: r });
      await assert.rejects(bob.client.request("chat.receipt", { room: r, seq: 999_999, kind: "read" }), isCode("not_found"));
      const anon = await sys.client({ transport });
      await assert.rejects(anon.request("chat.rooms"), isCode("unauthorized"));
    });

    test(`chat - ${transport}: a private room admits only its members, for every op`, async () => {
      const eve = await sys.user({ prefix: "eve", transport });
      const r = room();
      await ana.client.request("chat.create", { room: r, private: true, members: [bob.username] });
      for (const [op, data] of [
        ["chat.join", { room: r }], ["chat.send", { room: r, body: "x" }], ["chat.history", { room: r }],
        ["chat.receipt", { room: r, seq: 1, kind: "read" }], ["chat.presence", { room: r }], ["chat.typing", { room: r }],
      ] as const) {
        await assert.rejects(eve.client.request(op, data), isCode("forbidden"), op);
      }
      const rooms = await eve.client.request<{ rooms: { room: string }[] }>("chat.rooms");
      assert.ok(!rooms.rooms.some((x) => x.room === r));
      await bob.client.request("chat.join", { room: r });
      const s = await bob.client.request<{ seq: number }>("chat.send", { room: r, body: "secret" });
      await folded(ana.client, r, s.seq);
      const h = await ana.client.request<{ messages: Msg[] }>("chat.history", { room: r });
      assert.deepEqual(h.messages.map((m) => m.seq), [s.seq]);
      const mine = await ana.client.request<{ rooms: { room: string; private: boolean; members: string[] }[] }>("chat.rooms");
      const it = mine.rooms.find((x) => x.room === r)!;
      assert.equal(it.private, true);
      assert.deepEqual([...it.members].sort(), [ana.username, bob.username].sort());
    });

    test(`chat - ${transport}: a resend with the same client_msg_id returns the original and stores nothing`, async () => {
      await ana.client.request("chat.join", { room: "lobby" });
      const a = await ana.client.request<{ seq: number; msg_id: string; ts: number }>("chat.send", { room: "lobby", body: "once", client_msg_id: "c-1" });
      const b = await ana.client.request<{ seq: number; msg_id: string; ts: number }>("chat.send", { room: "lobby", body: "once", client_msg_id: "c-1" });
      assert.deepEqual(b, a);
      const h = await ana.client.request<{ messages: Msg[] }>("chat.history", { room: "lobby", after_seq: a.seq - 1 });
      assert.equal(h.messages.filter((m) => m.body === "once" && m.from === ana.username).length, 1);
      // Another user's same client_msg_id is another message.
      await bob.client.request("chat.join", { room: "lobby" });
      const c = await bob.client.request<{ seq: number }>("chat.send", { room: "lobby", body: "once", client_msg_id: "c-1" });
      assert.notEqual(c.seq, a.seq);
    });

    test(`chat - ${transport}: dm is one private room whichever side starts it; join since_seq bounds missed to a page`, async () => {
      const d1 = await ana.client.request<{ room: string; seq: number }>("chat.dm", { to: bob.username, body: "hi bob" });
      const d2 = await bob.client.request<{ room: string; seq: number }>("chat.dm", { to: ana.username, body: "hi ana" });
      assert.equal(d1.room, d2.room);
      const eve = await sys.user({ prefix: "eve", transport });
      await assert.rejects(eve.client.request("chat.history", { room: d1.room }), isCode("forbidden"));
      await assert.rejects(ana.client.request("chat.dm", { to: ana.username, body: "me" }), isCode("bad_request"));
      let last = 0;
      for (let i = 0; i < 60; i++) last = (await ana.client.request<{ seq: number }>("chat.send", { room: d1.room, body: `m${i}` })).seq;
      await folded(bob.client, d1.room, last);
      const j = await bob.client.request<{ missed: Msg[]; has_more: boolean; last_seq: number }>("chat.join", { room: d1.room, since_seq: d2.seq });
      assert.equal(j.missed.length, 50);
      assert.equal(j.has_more, true);
      assert.equal(j.missed.at(-1)!.body, "m59");
      assert.equal(j.missed.at(-1)!.seq, j.last_seq);
      const older = await bob.client.request<{ messages: Msg[]; has_more: boolean }>("chat.history", { room: d1.room, before_seq: j.missed[0].seq, after_seq: d2.seq });
      assert.deepEqual(older.messages.map((m) => m.body), ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
      assert.equal(older.has_more, false);
    });

    test(`chat - ${transport}: read receipts reach the author and move unread; typing reaches others only`, async () => {
      const r = room();
      await ana.client.request("chat.create", { room: r });
      await ana.client.request("chat.join", { room: r });
      await bob.client.request("chat.join", { room: r });
      const receipts = collect<{ room: string; seq: number; from: string; kind: string }>(ana.client, "chat.receipt");
      const typing = collect<{ room: string; from: string }>(bob.client, "chat.typing");
      const anaTyping = collect<{ room: string; from: string }>(ana.client, "chat.typing");
      const s1 = await ana.client.request<{ seq: number }>("chat.send", { room: r, body: "one" });
      const s2 = await ana.client.request<{ seq: number }>("chat.send", { room: r, body: "two" });
      const unread = async () => (await bob.client.request<{ rooms: { room: string; unread: number }[] }>("chat.rooms")).rooms.find((x) => x.room === r)!.unread;
      await folded(bob.client, r, s2.seq);
      assert.equal(await unread(), 2);
      await bob.client.request("chat.receipt", { room: r, seq: s1.seq, kind: "delivered" });
      await bob.client.request("chat.receipt", { room: r, seq: s1.seq, kind: "read" });
      assert.equal(await unread(), 1);
      await waitUntil("receipts", () => receipts.length === 2);
      assert.deepEqual(receipts.map((x) => [x.room, x.seq, x.from, x.kind]), [[r, s1.seq, bob.username, "delivered"], [r, s1.seq, bob.username, "read"]]);
      await ana.client.request("chat.typing", { room: r });
      await waitUntil("typing", () => typing.length === 1);
      assert.deepEqual(typing[0], { room: r, from: ana.username });
      assert.equal(anaTyping.length, 0);
    });

    test(`chat - ${transport}: mentions of members are recorded; keys publish and get`, async () => {
      const r = room();
      await ana.client.request("chat.create", { room: r });
      await ana.client.request("chat.join", { room: r });
      await bob.client.request("chat.join", { room: r });
      const sent = await ana.client.request<{ seq: number }>("chat.send", { room: r, body: `hey @${bob.username} and @nobody-here` });
      await folded(bob.client, r, sent.seq);
      const h = await bob.client.request<{ messages: Msg[] }>("chat.history", { room: r });
      assert.deepEqual(h.messages[0].mentions, [bob.username]);
      await ana.client.request("chat.keys.publish", { key_id: "k1", public_key: "cHVi" });
      const k = await bob.client.request<{ username: string; keys: { key_id: string; public_key: string }[] }>("chat.keys.get", { username: ana.username });
      assert.deepEqual(k.keys, [{ key_id: "k1", public_key: "cHVi" }]);
      const none = await bob.client.request<{ keys: unknown[] }>("chat.keys.get", { username: "nobody-at-all" });
      assert.deepEqual(none.keys, []);
    });

    test(`chat - ${transport}: leave stops the room's events; presence lists users once`, async () => {
      const r = room();
      await ana.client.request("chat.create", { room: r });
      await bob.client.request("chat.join", { room: r });
      const second = await sys.client({ transport, token: bob.accessToken });
      await second.request("chat.join", { room: r });
      await ana.client.request("chat.join", { room: r });
      const p = await ana.client.request<{ room: string; online: string[] }>("chat.presence", { room: r });
      assert.deepEqual(p.online, [ana.username, bob.username].sort());
      const got = collect<Msg>(bob.client, "chat.message");
      await bob.client.request("chat.leave", { room: r });
      await ana.client.request("chat.send", { room: r, body: "after leave" });
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(got.filter((m) => m.room === r).length, 0);
      // Bob's other connection is still there: still online.
      const p2 = await ana.client.request<{ online: string[] }>("chat.presence", { room: r });
      assert.ok(p2.online.includes(bob.username));
    });
  });
}

test("chat - ciphertext and enc are stored as sent; the plaintext reaches no stream", async () => {
  const ana = await sys.user({ prefix: "ana" });
  await ana.client.request("chat.join", { room: "lobby" });
  const secret = `plaintext-${uniqueName("s")}`;
  const ciphertext = Buffer.from(`sealed:${[...secret].reverse().join("")}`).toString("base64");
  const enc = { alg: "x25519-hkdf-aes256gcm", nonce: "AAAA", nested: { k: [1, 2] } };
  const s = await ana.client.request<{ seq: number }>("chat.send", { room: "lobby", ciphertext, enc });
  const h = await ana.client.request<{ messages: Msg[] }>("chat.history", { room: "lobby", after_seq: s.seq - 1 });
  assert.equal(h.messages[0].ciphertext, ciphertext);
  assert.deepEqual(h.messages[0].enc, enc);
  assert.equal(h.messages[0].body, undefined);
  const jsm = await jetstreamManager(sys.nc);
  const stored = await jsm.streams.getMessage("CHAT", { seq: s.seq });
  const raw = new TextDecoder().decode(stored!.data);
  assert.ok(raw.includes(ciphertext));
  assert.ok(!raw.includes(secret));
});
