/**
 * The services' own notifications, end to end: a task submitted through the
 * gateway with tasks running ends as `tasks.<me>.done` in the submitter's
 * inbox and as a live event (and nowhere else); a chat message event naming
 * `@user` (chat's event shape, published into a CHAT stream here) becomes
 * `chat.<user>.mention`, once, however often it is redelivered.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager, jetstream } from "@nats-io/jetstream";
import type { ColmenaClient } from "@colmena/client";
import { userTopicToken } from "@colmena/protocol";
import { waitUntil } from "@colmena/testing";
import { startSystem, type System, type TestUser } from "./harness.ts";

let sys: System;
let ana: TestUser;
let eve: TestUser;

before(async () => {
  sys = await startSystem({ services: ["auth", "tasks", "notify"] });
  ana = await sys.user({ prefix: "ana" });
  eve = await sys.user({ prefix: "eve" });
});
after(async () => {
  await sys?.stop();
});

type Note = { notification_id: string; topic: string; title: string; body?: string; data?: Record<string, unknown> };
const inbox = async (c: ColmenaClient) => (await c.request<{ notifications: Note[] }>("notify.inbox", { limit: 500 })).notifications;

test("notify - a finished task reaches its submitter's inbox and connections as tasks.<me>.done, and only theirs", async () => {
  const me = userTopicToken(ana.username);
  await ana.client.request("notify.subscribe", { topic: `tasks.${me}.*` });
  await eve.client.request("notify.subscribe", { topic: ">" });
  await eve.client.request("notify.subscribe", { topic: "tasks.*.done" });
  const live: Note[] = [];
  ana.client.on("notify.event", (d) => live.push(d as Note));
  const r = await ana.client.request<{ task_id: string; status: string }>("tasks.submit", { type: "uppercase", input: "hola", wait: true });
  assert.equal(r.status, "done");
  const isMine = (n: Note) => n.data?.task_id === r.task_id;
  await waitUntil("the task's notification in the inbox", async () => (await inbox(ana.client)).some(isMine), 10_000);
  const got = (await inbox(ana.client)).filter(isMine);
  assert.equal(got.length, 1);
  assert.equal(got[0].topic, `tasks.${me}.done`);
  assert.equal(got[0].data?.result, "HOLA");
  await waitUntil("the live notify.event", () => live.some(isMine), 5000);
  assert.equal((await inbox(eve.client)).some(isMine), false);
});

test("notify - a chat mention becomes chat.<user>.mention, once", async () => {
  const jsm = await jetstreamManager(sys.nc);
  await jsm.streams.add({ name: "CHAT", subjects: ["chat.ev.>"] }).catch(() => undefined);
  await ana.client.request("notify.subscribe", { topic: `chat.${userTopicToken(ana.username)}.>` });
  await eve.client.request("notify.subscribe", { topic: "chat.>" });
  const js = jetstream(sys.nc);
  const event = { kind: "message", room: "general", from: eve.username, text: `hi @${ana.username}`, mentions: [ana.username, eve.username], ts: Date.now() };
  const ack = await js.publish("chat.ev.room.general", JSON.stringify(event));
  // The bridge looks for a missing stream every few seconds.
  const isIt = (n: Note) => n.data?.room === "general" && n.body === event.text;
  await waitUntil("the mention in the inbox", async () => (await inbox(ana.client)).some(isIt), 15_000);
  // Redelivery of the same stream message publishes nothing new: its id derives from the message.
  const info = await jsm.consumers.info("CHAT", "notify_chat");
  assert.ok(info.ack_floor.stream_seq >= ack.seq);
  const mine = (await inbox(ana.client)).filter(isIt);
  assert.equal(mine.length, 1);
  assert.equal(mine[0].topic, `chat.${userTopicToken(ana.username)}.mention`);
  // The sender named themselves: no mention for them, and ana's is not theirs.
  assert.equal((await inbox(eve.client)).some(isIt), false);
});
