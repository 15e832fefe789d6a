/**
 * `GET /v1/notify/events` through the gateway's HTTP port, with the
 * `eventsource` package and `curl -N` as clients (protocol.md section 8):
 * SSE delivery, replay with `since` (all, an id, a time), the topic filter,
 * a reconnect with `Last-Event-ID` after a dropped connection losing and
 * repeating nothing, NDJSON, keep-alive comments, and reserved topics
 * reaching their owner's stream only.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { EventSource, type FetchLike } from "eventsource";
import { userTopicToken } from "@colmena/protocol";
import { waitUntil } from "@colmena/testing";
import { startSystem, type System, type TestUser } from "./harness.ts";

const HEARTBEAT_MS = 300;
let sys: System;
let ana: TestUser;
let bob: TestUser;

before(async () => {
  sys = await startSystem({ services: ["auth", "tasks", "notify"], env: { COLMENA_NOTIFY_HEARTBEAT_MS: String(HEARTBEAT_MS) } });
  ana = await sys.user({ prefix: "ana" });
  bob = await sys.user({ prefix: "bob" });
});
after(async () => {
  await sys?.stop();
});

type Note = { notification_id: string; topic: string; title: string; body?: string };
const uniq = () => Math.random().toString(36).slice(2, 10);
const publish = async (u: TestUser, topic: string, title = topic) => (await u.client.request<{ notification_id: string }>("notify.publish", { topic, title })).notification_id;
const events = (u: TestUser, query = "") => `${sys.gateway.httpUrl}/v1/notify/events${query}`;

/** An EventSource collecting `notify.event`s (with their SSE ids); `fetch` may be wrapped (headers, dropped connections). */
function source(u: TestUser, query: string, fetchImpl?: FetchLike) {
  const got: { id: string; note: Note }[] = [];
  const withAuth: FetchLike = (url, init) => (fetchImpl ?? fetch)(url, { ...init, headers: { ...init.headers, Authorization: `Bearer ${u.accessToken}` } });
  const es = new EventSource(events(u, query), { fetch: withAuth });
  es.addEventListener("notify.event", (e) => got.push({ id: e.lastEventId, note: JSON.parse(e.data) as Note }));
  return { es, got, ids: () => got.map((g) => g.note.notification_id) };
}

/** `curl -N` on the stream: its lines as they come. */
function curlStream(u: TestUser, query: string, headers: string[] = []) {
  const p = spawn("curl", ["-sN", "-H", `Authorization: Bearer ${u.accessToken}`, ...headers.flatMap((h) => ["-H", h]), events(u, query)]);
  let text = "";
  p.stdout.setEncoding("utf8").on("data", (d: string) => (text += d));
  return { text: () => text, lines: () => text.split("\n"), stop: () => p.kill() };
}

test("notify http events - SSE replays since=all then delivers live ones, in order, with the id as the event id", async () => {
  const topic = `sse${uniq()}`;
  await ana.client.request("notify.subscribe", { topic: `${topic}.>` });
  const before = [await publish(bob, `${topic}.a`), await publish(bob, `${topic}.b`)];
  const s = source(ana, "?since=all");
  await waitUntil("the replay", () => s.got.length >= 2, 10_000);
  const live = await publish(bob, `${topic}.c`, "live one");
  await waitUntil("the live one", () => s.ids().includes(live), 10_000);
  s.es.close();
  const mine = s.got.filter((g) => g.note.topic.startsWith(topic));
  assert.deepEqual(mine.map((g) => g.note.notification_id), [...before, live]);
  for (const g of mine) assert.equal(g.id, g.note.notification_id);
  assert.equal(mine[2].note.title, "live one");
});

test("notify http events - a dropped connection resumes with Last-Event-ID: nothing lost, nothing repeated", async () => {
  const topic = `drop${uniq()}`;
  const me = await sys.user({ prefix: "drop" });
  await me.client.request("notify.subscribe", { topic });
  let calls = 0;
  let drop: () => void = () => {};
  let release: () => void = () => {};
  const gap = new Promise<void>((r) => (release = r));
  const seenIds: (string | null)[] = [];
  // The first connection can be cut (its stream ends, as when a connection drops); the reconnect waits until the test has published into the gap.
  const flaky: FetchLike = async (url, init) => {
    calls++;
    seenIds.push(new Headers(init.headers as Record<string, string>).get("last-event-id"));
    if (calls > 1) {
      await gap;
      return fetch(url, init);
    }
    const res = await fetch(url, init);
    const reader = res.body!.getReader();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        drop = () => { void reader.cancel(); controller.close(); };
      },
      async pull(controller) {
        const r = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  const s = source(me, "", flaky);
  await waitUntil("the stream open", () => s.es.readyState === EventSource.OPEN, 10_000);
  const first = [await publish(bob, topic, "1"), await publish(bob, topic, "2")];
  await waitUntil("the first two", () => s.got.length === 2, 10_000);
  drop();
  await waitUntil("the reconnect attempt", () => calls === 2, 10_000);
  const during = [await publish(bob, topic, "3"), await publish(bob, topic, "4")];
  release();
  const after = await publish(bob, topic, "5");
  await waitUntil("everything", () => s.ids().includes(after), 15_000);
  await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 2));
  s.es.close();
  assert.equal(seenIds[1], first[1], "the reconnect sent the last id it received");
  assert.deepEqual(s.ids(), [...first, ...during, after]);
});

test("notify http events - since an id or a time, and the topic filter", async () => {
  const topic = `since${uniq()}`;
  const me = await sys.user({ prefix: "since" });
  await me.client.request("notify.subscribe", { topic: `${topic}.>` });
  const a = await publish(bob, `${topic}.x`);
  await new Promise((r) => setTimeout(r, 10));
  const mid = Date.now();
  await new Promise((r) => setTimeout(r, 10));
  const b = await publish(bob, `${topic}.y`);
  const c = await publish(bob, `${topic}.x.deep`);

  const byId = source(me, `?since=${a}`);
  const byTs = source(me, `?since=${mid}`);
  const filtered = source(me, `?since=all&topic=${topic}.x.>`);
  await waitUntil("the replays", () => byId.got.length >= 2 && byTs.got.length >= 2 && filtered.got.length >= 1, 10_000);
  const d = await publish(bob, `${topic}.x.again`);
  await publish(bob, `${topic}.y`);
  await waitUntil("the live ones", () => filtered.ids().includes(d) && byId.got.length >= 4, 10_000);
  for (const s of [byId, byTs, filtered]) s.es.close();
  assert.deepEqual(byId.ids().slice(0, 2), [b, c]);
  assert.deepEqual(byTs.ids().slice(0, 2), [b, c]);
  assert.deepEqual(filtered.ids(), [c, d], "only `.x.>` topics");
});

test("notify http events - NDJSON with curl -N, and keep-alive comments on SSE", async () => {
  const topic = `nd${uniq()}`;
  const me = await sys.user({ prefix: "nd" });
  await me.client.request("notify.subscribe", { topic });
  const old = await publish(bob, topic, "old");
  const nd = curlStream(me, `?since=${old}`);
  const sse = curlStream(me, "", ["Accept: text/event-stream"]);
  await new Promise((r) => setTimeout(r, 300));
  const fresh = await publish(bob, topic, "fresh");
  await waitUntil("the NDJSON line", () => nd.text().includes(fresh), 10_000);
  await waitUntil("keep-alives", () => (sse.text().match(/^: keep-alive$/gm) ?? []).length >= 2 && sse.text().includes(fresh), 10_000);
  nd.stop();
  sse.stop();
  const lines = nd.lines().filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Note);
  assert.deepEqual(lines.map((n) => [n.notification_id, n.title]), [[fresh, "fresh"]], "one JSON object a line, after since");
  assert.match(sse.text(), new RegExp(`event: notify\\.event\\nid: ${fresh}\\ndata: \\{`));
});

test("notify http events - a task's reserved notification reaches its owner's stream only", async () => {
  const nosy = await sys.user({ prefix: "nosy" });
  await nosy.client.request("notify.subscribe", { topic: ">" });
  await nosy.client.request("notify.subscribe", { topic: "tasks.*.done" });
  await ana.client.request("notify.subscribe", { topic: `tasks.${userTopicToken(ana.username)}.>` });
  const mine = source(ana, "");
  const theirs = source(nosy, "");
  await waitUntil("both open", () => mine.es.readyState === EventSource.OPEN && theirs.es.readyState === EventSource.OPEN, 10_000);
  await ana.client.request("tasks.submit", { type: "uppercase", input: "x", wait: true });
  await waitUntil("the owner's notification", () => mine.got.some((g) => g.note.topic === `tasks.${userTopicToken(ana.username)}.done`), 15_000);
  const open = await publish(bob, `open${uniq()}`);
  await waitUntil("the open one on the other stream", () => theirs.ids().includes(open), 10_000);
  mine.es.close();
  theirs.es.close();
  assert.deepEqual(theirs.got.filter((g) => g.note.topic.startsWith("tasks.")), [], "no one else's tasks.* over SSE");
});

// Last: it stops the only notify replica.
test("notify http events - an EventSource keeps retrying while the only notify replica is down, and resumes with Last-Event-ID when it is back", async () => {
  const topic = `down${uniq()}`;
  const me = await sys.user({ prefix: "down" });
  await me.client.request("notify.subscribe", { topic });
  const answers: { status: number; type: string | null; lastEventId: string | null }[] = [];
  const watched: FetchLike = async (url, init) => {
    const res = await fetch(url, init);
    answers.push({ status: res.status, type: res.headers.get("content-type"), lastEventId: new Headers(init.headers as Record<string, string>).get("last-event-id") });
    return res;
  };
  const s = source(me, "", watched);
  await waitUntil("open", () => s.es.readyState === EventSource.OPEN, 10_000);
  const first = await publish(bob, topic, "before");
  await waitUntil("the first", () => s.ids().includes(first), 10_000);

  await sys.stopService("notify");
  // The stream ends; each reconnect finds no replica. A 503 would close the EventSource for good: it must keep trying.
  await waitUntil("two reconnects while notify is down", () => answers.length >= 3, 15_000);
  for (const a of answers.slice(1)) {
    assert.equal(a.status, 200);
    assert.match(a.type ?? "", /^text\/event-stream/);
    assert.equal(a.lastEventId, first);
  }
  assert.notEqual(s.es.readyState, EventSource.CLOSED);

  await sys.restart("notify");
  const second = await publish(bob, topic, "after");
  await waitUntil("the one after the restart", () => s.ids().includes(second), 15_000);
  s.es.close();
  assert.deepEqual(s.ids(), [first, second], "nothing lost, nothing repeated");
});
