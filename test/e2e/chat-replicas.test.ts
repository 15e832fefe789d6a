/**
 * Chat across two gateways and two chat replicas on one nats-server: every
 * member sees every message once, in seq order, never its own; a replica
 * whose NATS connection is cut mid-burst (as SIGKILL would) loses no
 * acknowledged message; the SDK resumes what a member missed while its
 * gateway restarted; presence goes offline when a gateway dies silently.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaClient } from "@colmena/client";
import { roomMessages, startChat, type RunningChat } from "@colmena/chat";
import { startGateway, type Gateway } from "@colmena/gateway";
import { connectNats, silentLogger } from "@colmena/runtime";
import { uniqueName, waitUntil } from "@colmena/testing";
import { startSystem, type System, type TestUser } from "./harness.ts";

const log = silentLogger();
let sys: System;
const extra: { nc: NatsConnection; stop(): Promise<void> }[] = [];

type Msg = { room: string; seq: number; from: string; body?: string };

before(async () => {
  sys = await startSystem({ services: ["auth", "chat"], env: { COLMENA_CHAT_PUSH_ACK_WAIT_MS: "1000", COLMENA_REQUEST_TIMEOUT_MS: "3000" } });
});
after(async () => {
  // Parts whose NATS connection the tests cut may never finish a clean stop: each gets a few seconds.
  const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, 3000).unref())]);
  for (const e of extra.reverse()) {
    await bounded(e.stop());
    await bounded(e.nc.close());
  }
  await sys?.stop();
});

async function secondGateway(heartbeatMs?: number): Promise<{ gw: Gateway; nc: NatsConnection; url: string }> {
  const nc = await connectNats({ servers: sys.nats.url, name: uniqueName("gw2-"), log });
  const gw = await startGateway({ nc, log, env: { ...sys.env, COLMENA_TCP_PORT: "0", COLMENA_HTTP_PORT: "0", COLMENA_TLS_PORT: "0" }, heartbeatMs });
  extra.push({ nc, stop: () => gw.stop() });
  return { gw, nc, url: `tcp://127.0.0.1:${gw.ports.tcp}` };
}

async function secondChat(): Promise<{ chat: RunningChat; nc: NatsConnection }> {
  const nc = await connectNats({ servers: sys.nats.url, name: uniqueName("chat2-"), log });
  const chat = await startChat({ nc, log, env: { ...sys.env, COLMENA_INSTANCE: uniqueName("chat-b-") } });
  extra.push({ nc, stop: () => chat.stop() });
  return { chat, nc };
}

/** A fresh user logged in on the gateway at `url`. */
async function userOn(url: string, prefix: string): Promise<TestUser> {
  const u = await sys.user({ prefix });
  const client = await ColmenaClient.connect({ url, token: u.accessToken, refreshToken: u.refreshToken, requestTimeoutMs: 15_000 });
  extra.push({ nc: { close: async () => undefined } as unknown as NatsConnection, stop: async () => client.close() });
  u.client.close();
  return { ...u, client };
}

const room = () => uniqueName("r").toLowerCase().replace(/[^a-z0-9_-]/g, "");
function messagesOf(c: ColmenaClient, r: string): Msg[] {
  const got: Msg[] = [];
  c.on("chat.message", (d) => { if ((d as Msg).room === r) got.push(d as Msg); });
  return got;
}
const ascending = (seqs: number[]) => seqs.every((s, i) => i === 0 || s > seqs[i - 1]);

test("chat replicas - members on two gateways get every acknowledged message once, in order, through a replica's abrupt death", async () => {
  const g2 = await secondGateway();
  const b = await secondChat();
  const ana = await sys.user({ prefix: "ana" });
  const bob = await sys.user({ prefix: "bob" });
  const carl = await userOn(g2.url, "carl");
  const r = room();
  await ana.client.request("chat.create", { room: r });
  for (const u of [ana, bob, carl]) await u.client.request("chat.join", { room: r });
  const toAna = messagesOf(ana.client, r);
  const toBob = messagesOf(bob.client, r);
  const toCarl = messagesOf(carl.client, r);

  const acked: number[] = [];
  let n = 0;
  const sender = async () => {
    while (n < 120) {
      const i = n++;
      if (i === 40) void b.nc.close(); // no drain: what it held is simply gone, as with SIGKILL
      try {
        const s = await ana.client.request<{ seq: number }>("chat.send", { room: r, body: `burst ${i}` });
        acked.push(s.seq);
      } catch {
        // unacknowledged (the replica died holding it): may or may not be stored
      }
    }
  };
  await Promise.all([sender(), sender(), sender(), sender()]);
  assert.ok(acked.length >= 100, `most sends acknowledged (${acked.length})`);
  for (const [name, got] of [["bob", toBob], ["carl", toCarl]] as const) {
    await waitUntil(`${name} got every acknowledged message`, () => acked.every((s) => got.some((m) => m.seq === s)), 20_000);
    const seqs = got.map((m) => m.seq);
    assert.equal(new Set(seqs).size, seqs.length, `${name} got no message twice`);
    assert.ok(ascending(seqs), `${name} got them in seq order`);
  }
  assert.equal(toAna.length, 0, "no echo to the sender");
  const h = await bob.client.request<{ messages: Msg[] }>("chat.history", { room: r, limit: 200 });
  const stored = new Set(h.messages.map((m) => m.seq));
  assert.ok(acked.every((s) => stored.has(s)), "every acknowledged message is in history");
});

test("chat replicas - the SDK resumes a room after its gateway restarts: what was missed arrives once, in order", async () => {
  const g2 = await secondGateway();
  const ana = await userOn(g2.url, "ana");
  const bob = await sys.user({ prefix: "bob" });
  const r = room();
  await ana.client.request("chat.create", { room: r });
  await ana.client.request("chat.join", { room: r });
  await bob.client.request("chat.join", { room: r });
  const got = messagesOf(bob.client, r);
  const first = await ana.client.request<{ seq: number }>("chat.send", { room: r, body: "before" });
  await waitUntil("live", () => got.length === 1);
  const reauth = new Promise<void>((res) => bob.client.onStatus((s) => s.type === "reauthenticated" && res()));
  const restarting = sys.restart("gateway");
  const sent = [first.seq];
  for (let i = 0; i < 70; i++) sent.push((await ana.client.request<{ seq: number }>("chat.send", { room: r, body: `while away ${i}` })).seq);
  await restarting;
  // Live messages keep coming while the SDK rejoins and pages back: they must neither hide the missed ones nor overtake them.
  for (let i = 0; i < 30; i++) sent.push((await ana.client.request<{ seq: number }>("chat.send", { room: r, body: `during ${i}` })).seq);
  await reauth;
  for (let i = 0; i < 5; i++) sent.push((await ana.client.request<{ seq: number }>("chat.send", { room: r, body: `after ${i}` })).seq);
  await waitUntil("bob caught up", () => sent.every((s) => got.some((m) => m.seq === s)), 20_000).catch(() => undefined);
  const seqs = got.map((m) => m.seq);
  assert.deepEqual(seqs, sent, "every message once, in order");
});

test("chat replicas - presence goes offline within the heartbeat deadline when a gateway dies without a word", async () => {
  const g3 = await secondGateway(300);
  const ana = await sys.user({ prefix: "ana" });
  const dan = await userOn(g3.url, "dan");
  const r = room();
  await ana.client.request("chat.create", { room: r });
  await ana.client.request("chat.join", { room: r });
  const events: { room: string; username: string; state: string }[] = [];
  ana.client.on("chat.presence", (d) => events.push(d as never));
  const j = await dan.client.request<{ online: string[] }>("chat.join", { room: r });
  assert.deepEqual(j.online, [ana.username, dan.username].sort());
  await waitUntil("dan online", () => events.some((e) => e.username === dan.username && e.state === "online"));
  // Wait for a heartbeat to be seen, then cut the gateway's NATS: no closed announcement, no heartbeats.
  await new Promise((res) => setTimeout(res, 700));
  const t0 = Date.now();
  await g3.nc.close();
  await waitUntil("dan offline", () => events.some((e) => e.username === dan.username && e.state === "offline"), 15_000);
  assert.ok(Date.now() - t0 < 15_000);
  const p = await ana.client.request<{ online: string[] }>("chat.presence", { room: r });
  assert.deepEqual(p.online, [ana.username]);
});

test("chat replicas - a message stored by a replica that died before any push still reaches the members", async () => {
  const bob = await sys.user({ prefix: "bob" });
  await bob.client.request("chat.join", { room: "lobby" });
  const got = messagesOf(bob.client, "lobby");
  // What a replica leaves behind if it dies right after its append: the stored event, and no push.
  const js = jetstream(sys.nc);
  const ack = await js.publish(roomMessages("lobby"), JSON.stringify({ kind: "message", room: "lobby", msg_id: "m_orphan", from: "ghost", user_id: "", body: "stored, never pushed", ts: Date.now() }));
  await waitUntil("bob gets it from the stream", () => got.some((m) => m.seq === ack.seq && m.body === "stored, never pushed"));
});
