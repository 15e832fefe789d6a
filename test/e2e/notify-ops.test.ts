/**
 * The notify ops of protocol.md section 8 through the real gateway and the
 * real notify service: every op and error case, wildcard semantics, live
 * `notify.event` pushes, reserved-topic isolation, and subscriptions and
 * inboxes surviving a restart.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { ColmenaClient } from "@colmena/client";
import { waitUntil } from "@colmena/testing";
import { randomBytes } from "node:crypto";
import { userTopicToken } from "@colmena/protocol";
import { EntityLog } from "@colmena/runtime";
import { isCode, startSystem, type System, type TestUser } from "./harness.ts";

let sys: System;
let ana: TestUser;
let bob: TestUser;

before(async () => {
  sys = await startSystem({ services: ["auth", "notify"] });
  ana = await sys.user({ prefix: "ana" });
  bob = await sys.user({ prefix: "bob" });
});
after(async () => {
  await sys?.stop();
});

type Note = { notification_id: string; topic: string; title: string; body?: string; data?: unknown; ts: number; read: boolean };
const publish = (c: ColmenaClient, data: Record<string, unknown>) => c.request<{ notification_id: string; recipients: number }>("notify.publish", data);
const inbox = (c: ColmenaClient, data: Record<string, unknown> = {}) => c.request<{ notifications: Note[]; next?: string }>("notify.inbox", data);
const uniq = () => Math.random().toString(36).slice(2, 10);

test("notify - subscribe, list, publish, inbox, read, unsubscribe", async () => {
  const t = `app${uniq()}`;
  assert.deepEqual(await ana.client.request("notify.subscribe", { topic: `${t}.deploy` }), { topic: `${t}.deploy`, channels: ["push"] });
  const subs = await ana.client.request<{ subscriptions: { topic: string; channels: string[]; created_at: number }[] }>("notify.subscriptions", {});
  const mine = subs.subscriptions.find((s) => s.topic === `${t}.deploy`);
  assert.ok(mine && mine.channels[0] === "push" && mine.created_at > 0);

  const events: Note[] = [];
  ana.client.on("notify.event", (d) => events.push(d as Note));
  const r = await publish(bob.client, { topic: `${t}.deploy`, title: "deployed", body: "v1.2", data: { v: 12 } });
  assert.match(r.notification_id, /^n_[0-9a-f]{32}$/);
  assert.equal(r.recipients, 1);
  const box = await inbox(ana.client);
  const n = box.notifications.find((x) => x.notification_id === r.notification_id);
  assert.ok(n);
  assert.equal(n.title, "deployed");
  assert.equal(n.body, "v1.2");
  assert.deepEqual(n.data, { v: 12 });
  assert.equal(n.read, false);
  await waitUntil("the live event", () => events.some((e) => e.notification_id === r.notification_id), 5000);
  assert.equal((await inbox(bob.client)).notifications.some((x) => x.notification_id === r.notification_id), false);

  assert.deepEqual(await ana.client.request("notify.read", { notification_ids: [r.notification_id] }), {});
  assert.equal((await inbox(ana.client)).notifications.find((x) => x.notification_id === r.notification_id)?.read, true);
  assert.equal((await inbox(ana.client, { unread_only: true })).notifications.some((x) => x.notification_id === r.notification_id), false);

  assert.deepEqual(await ana.client.request("notify.unsubscribe", { topic: `${t}.deploy` }), {});
  await assert.rejects(ana.client.request("notify.unsubscribe", { topic: `${t}.deploy` }), isCode("not_found"));
  assert.equal((await publish(bob.client, { topic: `${t}.deploy`, title: "again" })).recipients, 0);
});

test("notify - wildcards: * is one token, > one or more, nothing across tokens", async () => {
  const t = `w${uniq()}`;
  const star = await sys.user({ prefix: "star" });
  const rest = await sys.user({ prefix: "rest" });
  await star.client.request("notify.subscribe", { topic: `${t}.*.done` });
  await rest.client.request("notify.subscribe", { topic: `${t}.>` });
  const cases: [string, boolean, boolean][] = [
    [`${t}.a.done`, true, true], [`${t}.a.b.done`, false, true], [`${t}.done`, false, true], [`${t}x.a.done`, false, false], [`${t}.a.donex`, false, true],
  ];
  for (const [topic, toStar, toRest] of cases) {
    const r = await publish(ana.client, { topic, title: topic });
    assert.equal(r.recipients, Number(toStar) + Number(toRest), topic);
    const has = async (u: TestUser) => (await inbox(u.client)).notifications.some((n) => n.notification_id === r.notification_id);
    assert.equal(await has(star), toStar, `* on ${topic}`);
    assert.equal(await has(rest), toRest, `> on ${topic}`);
  }
  // `>` alone does not match the bare root token.
  assert.equal((await publish(ana.client, { topic: t, title: "root" })).recipients, 0);
});

test("notify - bad input is bad_request", async () => {
  const bad: [string, Record<string, unknown>][] = [
    ["notify.subscribe", { topic: "A.b" }], ["notify.subscribe", { topic: "a..b" }], ["notify.subscribe", { topic: "a.>.b" }],
    ["notify.subscribe", { topic: "a.b>" }], ["notify.subscribe", { topic: "a", channels: ["sms"] }], ["notify.subscribe", { topic: "a", channels: ["email"] }],
    ["notify.subscribe", { topic: "a", channels: ["email"], email: "not-an-address" }], ["notify.subscribe", { topic: "a", digest_s: 60 }],
    ["notify.subscribe", { topic: "a", extra: 1 }], ["notify.publish", { topic: "a.*", title: "x" }], ["notify.publish", { topic: "a.>", title: "x" }],
    ["notify.publish", { topic: "a" }], ["notify.publish", { topic: "a", title: "" }], ["notify.inbox", { limit: 0 }], ["notify.inbox", { since: "nope" }],
    ["notify.read", { notification_ids: [] }], ["notify.read", { notification_ids: ["x"] }], ["notify.unsubscribe", {}],
  ];
  for (const [op, data] of bad) await assert.rejects(ana.client.request(op, data), isCode("bad_request"), `${op} ${JSON.stringify(data)}`);
});

test("notify - ops need a logged-in connection", async () => {
  const anon = await sys.client();
  for (const op of ["notify.subscribe", "notify.publish", "notify.inbox", "notify.subscriptions"]) {
    await assert.rejects(anon.request(op, { topic: "a", title: "x" }), isCode("unauthorized"), op);
  }
});

test("notify - reserved topics: forbidden to publish, and a pattern reaches only the caller's own", async () => {
  for (const root of ["tasks", "chat", "files", "notify", "auth", "sys"]) {
    await assert.rejects(publish(ana.client, { topic: `${root}.${bob.username}.x`, title: "spoof" }), isCode("forbidden"), root);
  }
  const eve = await sys.user({ prefix: "eve" });
  await eve.client.request("notify.subscribe", { topic: ">" });
  await eve.client.request("notify.subscribe", { topic: "tasks.*.done" });
  await eve.client.request("notify.subscribe", { topic: `tasks.${bob.username}.done` });
  await bob.client.request("notify.subscribe", { topic: "tasks.*.done" });
  // As a service publishes one (the tasks bridge): a notification written to the NOTIFY stream.
  const id = `n_${randomBytes(16).toString("hex")}`;
  const log = new EntityLog(sys.nc, "NOTIFY");
  const w = await log.append(`notify.ev.note.${id}`, { notification_id: id, topic: `tasks.${userTopicToken(bob.username)}.done`, title: "yours", ts: Date.now(), by: "tasks" }, 0, id);
  assert.ok(w.ok);
  await waitUntil("bob's reserved notification", async () => (await inbox(bob.client)).notifications.some((n) => n.notification_id === id), 5000);
  assert.equal((await inbox(eve.client)).notifications.some((n) => n.notification_id === id), false);
  await eve.client.request("notify.unsubscribe", { topic: ">" });
});

test("notify - inbox pages with since and next", async () => {
  const t = `p${uniq()}`;
  const me = await sys.user({ prefix: "pager" });
  await me.client.request("notify.subscribe", { topic: `${t}.>` });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await publish(ana.client, { topic: `${t}.n`, title: `n${i}` })).notification_id);
  const p1 = await inbox(me.client, { limit: 2 });
  assert.deepEqual(p1.notifications.map((n) => n.notification_id), ids.slice(0, 2));
  assert.equal(p1.next, ids[1]);
  const p2 = await inbox(me.client, { limit: 2, since: p1.next });
  assert.deepEqual(p2.notifications.map((n) => n.notification_id), ids.slice(2, 4));
  const p3 = await inbox(me.client, { limit: 2, since: p2.next });
  assert.deepEqual(p3.notifications.map((n) => n.notification_id), ids.slice(4));
  assert.equal(p3.next, undefined);
  const byTs = await inbox(me.client, { since: p1.notifications[1].ts - 1 });
  assert.ok(byTs.notifications.length >= 4);
});

test("notify - subscriptions, inboxes and read state survive a restart", async () => {
  const t = `r${uniq()}`;
  const me = await sys.user({ prefix: "keeper" });
  await me.client.request("notify.subscribe", { topic: `${t}.*` });
  const first = await publish(ana.client, { topic: `${t}.a`, title: "before" });
  await me.client.request("notify.read", { notification_ids: [first.notification_id] });
  await sys.restart("notify");
  const subs = await me.client.request<{ subscriptions: { topic: string }[] }>("notify.subscriptions", {});
  assert.deepEqual(subs.subscriptions.map((s) => s.topic), [`${t}.*`]);
  const second = await publish(ana.client, { topic: `${t}.b`, title: "after" });
  assert.equal(second.recipients, 1);
  const box = await inbox(me.client);
  assert.deepEqual(box.notifications.map((n) => [n.notification_id, n.read]), [[first.notification_id, true], [second.notification_id, false]]);
});
