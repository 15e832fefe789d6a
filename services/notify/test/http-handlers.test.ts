/**
 * The handlers of `POST /v1/notify/<topic>` and `GET /v1/notify/events`,
 * called directly with an HttpCall (real nats-server, real notify): what
 * the gateway's HTTP bridge hands them. test/e2e/notify-http.test.ts runs
 * the same through the gateway with curl and EventSource.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, type HttpAnswer, type HttpCall } from "@colmena/protocol";
import { silentLogger } from "@colmena/runtime";
import { startNats, type NatsServer } from "@colmena/testing";
import { startNotify, type RunningNotify } from "../src/mod.ts";
import { NotePublisher } from "../src/api.ts";
import { derivedNotificationId } from "../src/events.ts";
import { call as op } from "../../tasks/test/helpers.ts";

let nats: NatsServer;
let nc: NatsConnection;
let notify: RunningNotify;
let dir: string;
const HEARTBEAT_MS = 200;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  dir = mkdtempSync(join(tmpdir(), "colmena-notify-http-"));
  notify = await startNotify({ nc, log: silentLogger(), env: { COLMENA_DATA_DIR: dir, COLMENA_INSTANCE: "h1", COLMENA_NOTIFY_HEARTBEAT_MS: String(HEARTBEAT_MS) } });
});
after(async () => {
  await notify?.stop();
  await nc?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const uniq = () => Math.random().toString(36).slice(2, 10);
const enc = new TextEncoder();

function httpCall(route: string, o: { method?: "GET" | "POST" | "PUT"; path?: string; query?: string; headers?: Record<string, string>; body?: string; user?: string | null; signal?: AbortSignal }): HttpCall {
  const body = o.body ?? "";
  return {
    route, method: o.method ?? "GET", path: o.path ?? "", query: new URLSearchParams(o.query ?? ""),
    headers: { ...(o.body !== undefined ? { "content-length": String(Buffer.byteLength(body)) } : {}), ...o.headers },
    ...(o.user === null ? {} : { user: { id: o.user ?? "u1", username: o.user ?? "u1" } }),
    body: (async function* () { if (body) yield enc.encode(body); })(),
    signal: o.signal ?? new AbortController().signal,
  };
}

const publish = async (topic: string, o: Parameters<typeof httpCall>[1] = {}) => {
  const a = await notify.http.publish(httpCall("publish", { method: "POST", path: topic, ...o }));
  return { status: a.status, json: JSON.parse(String(a.body)) as { notification_id: string; recipients: number } };
};
const codeOf = async (p: Promise<unknown>) => {
  try { await p; } catch (e) { if (ColmenaError.is(e)) return e.code; throw e; }
  return "ok";
};

/** Reads an answer's streamed body as text chunks, until `until` holds of all read so far. */
async function readUntil(a: HttpAnswer, until: (text: string) => boolean, ms = 5000): Promise<string> {
  const it = (a.body as AsyncIterable<string>)[Symbol.asyncIterator]();
  let text = "";
  const deadline = Date.now() + ms;
  while (!until(text)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out; read so far: ${JSON.stringify(text)}`);
    const r = await Promise.race([it.next(), new Promise<null>((r) => setTimeout(() => r(null), left))]);
    if (r === null) continue;
    if (r.done) break;
    text += String(r.value);
  }
  return text;
}
const sseIds = (text: string) => [...text.matchAll(/^id: (n_[0-9a-f]+)$/gm)].map((m) => m[1]);

test("http publish - text with Title, JSON, and the errors of notify.publish", async () => {
  const user = `p${uniq()}`;
  const t = `ci${uniq()}.deploy`;
  await op(nc, "notify.subscribe", { topic: t }, user);
  const text = await publish(t, { body: "deploy finished", headers: { title: "CI" } });
  assert.equal(text.status, 200);
  assert.equal(text.json.recipients, 1);
  const json = await publish(t, { headers: { "content-type": "application/json" }, body: JSON.stringify({ title: "json", body: "b", data: { v: 1 } }) });
  const untitled = await publish(t, { body: "no title" });
  const box = await op<{ notifications: { notification_id: string; title: string; body?: string; data?: unknown }[] }>(nc, "notify.inbox", {}, user);
  const by = new Map(box.notifications.map((n) => [n.notification_id, n]));
  assert.deepEqual([by.get(text.json.notification_id)?.title, by.get(text.json.notification_id)?.body], ["CI", "deploy finished"]);
  assert.deepEqual(by.get(json.json.notification_id)?.data, { v: 1 });
  assert.equal(by.get(untitled.json.notification_id)?.title, t, "the title defaults to the topic");

  assert.equal(await codeOf(publish("tasks.someone.done", { body: "x" })), "forbidden");
  assert.equal(await codeOf(publish("Bad Topic", { body: "x" })), "bad_request");
  assert.equal(await codeOf(publish("a%zz", { body: "x" })), "bad_request");
  assert.equal(await codeOf(publish(t, { headers: { "content-type": "application/json" }, body: "{not json" })), "bad_request");
  assert.equal(await codeOf(publish(t, { headers: { "content-type": "application/json" }, body: JSON.stringify({ body: "no title" }) })), "bad_request");
  assert.equal(await codeOf(publish(t, { body: "x".repeat(16 * 1024 + 1) })), "frame_too_large");
  assert.equal(await codeOf(publish(t, { body: "x", user: null })), "unauthorized");
});

test("http events - SSE replays since, then live, in order; Last-Event-ID resumes with no gap and no repeat", async () => {
  const user = `s${uniq()}`;
  const t = `app${uniq()}`;
  await op(nc, "notify.subscribe", { topic: `${t}.>` }, user);
  const first = [];
  for (let i = 0; i < 3; i++) first.push((await publish(`${t}.x`, { body: `n${i}` })).json.notification_id);

  const ac = new AbortController();
  const a = await notify.http.events(httpCall("events", { user, query: "since=all", headers: { accept: "text/event-stream" }, signal: ac.signal }));
  assert.equal(a.status, 200);
  assert.match(a.headers!["content-type"], /^text\/event-stream/);
  const live = (await publish(`${t}.y`, { body: "live" })).json.notification_id;
  const got = await readUntil(a, (s) => sseIds(s).length >= 4);
  assert.deepEqual(sseIds(got), [...first, live]);
  assert.match(got, /event: notify\.event\nid: n_[0-9a-f]{32}\ndata: \{.*"title":/);
  ac.abort(); // the client goes away

  // Published while disconnected; a reconnect with the last id it saw gets exactly the rest.
  const missed = [(await publish(`${t}.z`, { body: "m1" })).json.notification_id, (await publish(`${t}.z`, { body: "m2" })).json.notification_id];
  const again = await notify.http.events(httpCall("events", { user, query: "since=all", headers: { accept: "text/event-stream", "last-event-id": first[1] } }));
  const rest = await readUntil(again, (s) => sseIds(s).length >= 4);
  assert.deepEqual(sseIds(rest), [first[2], live, ...missed]);
});

test("http events - since a time or an id, the topic filter, NDJSON, and keep-alives", async () => {
  const user = `f${uniq()}`;
  const t = `f${uniq()}`;
  await op(nc, "notify.subscribe", { topic: `${t}.>` }, user);
  const a1 = (await publish(`${t}.a`, { body: "1" })).json.notification_id;
  await new Promise((r) => setTimeout(r, 5));
  const mid = Date.now();
  await new Promise((r) => setTimeout(r, 5));
  const b1 = (await publish(`${t}.b`, { body: "2" })).json.notification_id;
  const a2 = (await publish(`${t}.a.deep`, { body: "3" })).json.notification_id;

  const byTs = await notify.http.events(httpCall("events", { user, query: `since=${mid}` }));
  assert.match(byTs.headers!["content-type"], /^application\/x-ndjson/);
  const lines = (await readUntil(byTs, (s) => s.split("\n").filter(Boolean).length >= 2)).split("\n").filter(Boolean).map((l) => JSON.parse(l).notification_id);
  assert.deepEqual(lines, [b1, a2]);

  const byId = await notify.http.events(httpCall("events", { user, query: `since=${a1}&topic=${t}.a.>`, headers: { accept: "text/event-stream" } }));
  const a3 = (await publish(`${t}.a.x`, { body: "4" })).json.notification_id;
  await publish(`${t}.b`, { body: "5" });
  const sse = await readUntil(byId, (s) => sseIds(s).length >= 2 && /\n: keep-alive\n/.test(s), 3000);
  assert.deepEqual(sseIds(sse), [a2, a3], "only those matching the filter, after the id");

  const nd = await notify.http.events(httpCall("events", { user }));
  const beat = await readUntil(nd, (s) => s.includes("\n"), HEARTBEAT_MS * 10);
  assert.equal(beat.trim(), "", "an idle NDJSON stream sends blank lines, nothing from before it opened");

  assert.equal(await codeOf(notify.http.events(httpCall("events", { user, query: "since=yesterday" }))), "bad_request");
  assert.equal(await codeOf(notify.http.events(httpCall("events", { user, query: `since=n_${"0".repeat(32)}` }))), "bad_request");
  assert.equal(await codeOf(notify.http.events(httpCall("events", { user, query: "topic=a..b" }))), "bad_request");
  assert.equal(await codeOf(notify.http.events(httpCall("events", { user: null }))), "unauthorized");
});

test("http events - a reserved topic reaches only its owner's stream, whatever the others subscribe", async () => {
  const owner = `o${uniq()}`;
  const other = `x${uniq()}`;
  await op(nc, "notify.subscribe", { topic: "tasks.*.done" }, owner);
  await op(nc, "notify.subscribe", { topic: ">" }, other);
  const mine = await notify.http.events(httpCall("events", { user: owner, headers: { accept: "text/event-stream" } }));
  const theirs = await notify.http.events(httpCall("events", { user: other, headers: { accept: "text/event-stream" } }));
  const open = (await publish(`open${uniq()}`, { body: "for everyone" })).json.notification_id;
  // As the tasks bridge publishes it (reserved topics come only from the services).
  const id = derivedNotificationId(`test-${uniq()}`);
  const notes = new NotePublisher(nc, { queries: notify.view.queries, waitForSeq: () => Promise.resolve() });
  await notes.publish({ notification_id: id, topic: `tasks.${owner}.done`, title: "done", ts: Date.now(), by: "tasks" });
  assert.deepEqual(sseIds(await readUntil(mine, (s) => sseIds(s).length >= 1)), [id]);
  const seen = await readUntil(theirs, (s) => sseIds(s).includes(open) && /: keep-alive/.test(s.slice(s.lastIndexOf(open))), 5000);
  assert.deepEqual(sseIds(seen), [open], "the other user's stream shows the open topic only");
});

test("http events - a stream ends when the service stops", async () => {
  const user = `e${uniq()}`;
  const a = await notify.http.events(httpCall("events", { user, headers: { accept: "text/event-stream" } }));
  const it = (a.body as AsyncIterable<string>)[Symbol.asyncIterator]();
  assert.match(String((await it.next()).value), /retry: 2000/);
  const pending = it.next();
  await notify.stop();
  const r = await Promise.race([pending, new Promise((r) => setTimeout(() => r("hung"), 3000))]);
  assert.deepEqual(r, { value: undefined, done: true });
});
