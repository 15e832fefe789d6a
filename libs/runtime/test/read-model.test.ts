import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, headers, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type Database from "better-sqlite3";
import { startNats, uniqueName, waitUntil } from "@colmena/testing";
import { ColmenaError } from "@colmena/protocol";
import { ReadModel, ensureStream, readModelFile, silentLogger, type ReadModelOptions, type StoredEvent } from "@colmena/runtime";

/** A tiny event-sourced table: `set` upserts an item, `del` removes it. */
function itemsModel(nc: NatsConnection, stream: string, file: string, extra: Partial<ReadModelOptions> = {}): ReadModelOptions {
  return {
    nc,
    stream,
    file,
    name: stream,
    log: silentLogger(),
    migrate: (db) => db.exec("CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, value TEXT NOT NULL, seq INTEGER NOT NULL)"),
    apply: (db, ev: StoredEvent) => {
      const e = ev.json<{ op: "set" | "del"; value?: string }>();
      const id = ev.subject.split(".").pop()!;
      if (e.op === "set") db.prepare("INSERT OR REPLACE INTO items (id, value, seq) VALUES (?, ?, ?)").run(id, e.value, ev.seq);
      else db.prepare("DELETE FROM items WHERE id = ?").run(id);
    },
    ...extra,
  };
}

function dump(db: Database.Database): unknown[] {
  return db.prepare("SELECT id, value, seq FROM items ORDER BY id").all();
}

async function setup(prefix: string) {
  const stream = uniqueName(prefix.toUpperCase());
  const subj = stream.toLowerCase();
  return { stream, subj, subjects: [`${subj}.ev.>`] };
}

async function publish(nc: NatsConnection, subject: string, body: unknown): Promise<number> {
  const ack = await jetstream(nc).publish(subject, JSON.stringify(body));
  return ack.seq;
}

/** A connection closed after the test, pass or fail. */
async function conn(t: TestContext, url: string, opts: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  const nc = await connect({ servers: url, ...opts });
  t.after(() => nc.close());
  return nc;
}

/** A fresh directory for a model's file, removed after the test, pass or fail. */
function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "colmena-rm-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A read model closed after the test, pass or fail (closing twice is harmless). */
async function open(t: TestContext, opts: ReadModelOptions): Promise<ReadModel> {
  const rm = await ReadModel.open(opts);
  t.after(() => rm.close());
  return rm;
}

const until = (what: string, cond: () => boolean, ms = 15_000) => waitUntil(what, cond, ms);

test("read model - folds events in batched transactions and resumes from its last sequence", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, subj, subjects } = await setup("rmfold");
  await ensureStream(nc, { name: stream, subjects });
  for (let i = 0; i < 300; i++) await publish(nc, `${subj}.ev.item.i${i % 50}`, { op: "set", value: `v${i}` });
  const dir = tempDir(t);
  const file = join(dir, "m.sqlite");
  // Inside a batch the meta row still holds the previous flush's position.
  const seenMeta = new Set<number>();
  let applied = 0;
  const base = itemsModel(nc, stream, file);
  const opts = {
    ...base,
    apply: (db: Database.Database, ev: StoredEvent) => {
      assert.ok(db.inTransaction);
      seenMeta.add((db.prepare("SELECT last_seq FROM _colmena_meta").get() as { last_seq: number }).last_seq);
      applied++;
      base.apply(db, ev);
    },
  };
  let rm = await open(t, opts);
  assert.equal(rm.lastSeq, 300);
  assert.equal(applied, 300);
  assert.ok(seenMeta.size < 300 / 2, `expected batches, got ${seenMeta.size} flushes for 300 events`);
  const rows = dump(rm.db) as { id: string; value: string }[];
  assert.equal(rows.length, 50);
  assert.equal(rows.find((r) => r.id === "i7")?.value, "v257");
  await rm.close();

  applied = 0;
  await publish(nc, `${subj}.ev.item.i7`, { op: "del" });
  rm = await open(t, opts);
  assert.equal(applied, 1, "reopening applies only the new event");
  assert.equal(rm.lastSeq, 301);
  assert.equal(dump(rm.db).length, 49);
  await rm.close();
});

test("read model - a thread checkpoints the WAL into the database file; commits never do", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, subj, subjects } = await setup("rmckpt");
  await ensureStream(nc, { name: stream, subjects });
  const dir = tempDir(t);
  const file = join(dir, "m.sqlite");
  const rm = await open(t, itemsModel(nc, stream, file));
  assert.equal(rm.db.pragma("wal_autocheckpoint", { simple: true }), 0, "no checkpoint inside a commit");
  const before = statSync(file).size;
  // About 2 MB of rows: half the WAL size at which SQLite would checkpoint by itself.
  const value = "x".repeat(1000);
  let last = 0;
  for (let i = 0; i < 2000; i++) last = await publish(nc, `${subj}.ev.item.i${i}`, { op: "set", value });
  await rm.waitFor(last);
  await waitUntil("the WAL to be copied into the database file", () => statSync(file).size > before + 1_500_000, 10_000);
  await rm.close();
});

test("read model - a heartbeat counting deliveries it never received restarts the consumer instead of skipping events", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, subj, subjects } = await setup("rmgap");
  await ensureStream(nc, { name: stream, subjects });
  for (let i = 1; i <= 3; i++) await publish(nc, `${subj}.ev.item.i${i}`, { op: "set", value: `v${i}` });
  const dir = tempDir(t);
  const rm = await open(t, itemsModel(nc, stream, join(dir, "m.sqlite")));
  assert.equal(rm.lastSeq, 3);
  // What the server sends after deliveries were lost on the way (our connection
  // dropped under them): its consumer has delivered 7 events and scanned to seq 10;
  // we got 3. Sent here by hand to the consumer's inbox, so the loss is certain.
  const inbox = (rm as unknown as { messages: { inbox: string } }).messages.inbox;
  const hb = headers(100, "Idle Heartbeat");
  hb.set("Nats-Last-Consumer", "7");
  hb.set("Nats-Last-Stream", "10");
  nc.publish(inbox, "", { headers: hb });
  await nc.flush();
  await sleep(100);
  let last = 0;
  for (let i = 4; i <= 10; i++) last = await publish(nc, `${subj}.ev.item.i${i}`, { op: "set", value: `v${i}` });
  assert.equal(last, 10);
  await rm.waitFor(10);
  assert.equal(dump(rm.db).length, 10, "events 4-10 folded, none skipped as if already applied");
});

test("read model - deleting the SQLite file rebuilds the same state", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, subj, subjects } = await setup("rmdel");
  await ensureStream(nc, { name: stream, subjects });
  const dir = tempDir(t);
  const file = readModelFile("svc", "inst-1", dir);
  assert.equal(file, join(dir, "svc-inst-1.sqlite"));
  let rm = await open(t, itemsModel(nc, stream, file));
  for (let i = 0; i < 120; i++) {
    const seq = await publish(nc, `${subj}.ev.item.k${i % 17}`, i % 5 === 4 ? { op: "del" } : { op: "set", value: `x${i}` });
    if (i % 40 === 39) await rm.waitFor(seq);
  }
  await rm.waitFor(120);
  const before = dump(rm.db);
  assert.ok(before.length > 0);
  await rm.close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  rm = await open(t, itemsModel(nc, stream, file));
  assert.equal(rm.lastSeq, 120);
  assert.deepEqual(dump(rm.db), before);
  await rm.close();
});

test("read model - two replicas on separate connections read their writes with waitFor", async (t) => {
  await using ns = await startNats();
  const nc1 = await conn(t, ns.url);
  const nc2 = await conn(t, ns.url);
  const { stream, subj, subjects } = await setup("rmryw");
  await ensureStream(nc1, { name: stream, subjects });
  const a = await open(t, itemsModel(nc1, stream, ":memory:"));
  const b = await open(t, itemsModel(nc2, stream, ":memory:"));
  for (let i = 0; i < 50; i++) {
    const writer = i % 2 === 0 ? nc1 : nc2;
    const reader = i % 2 === 0 ? b : a;
    const seq = await publish(writer, `${subj}.ev.item.n${i}`, { op: "set", value: `w${i}` });
    await reader.waitFor(seq);
    assert.deepEqual(reader.db.prepare("SELECT value FROM items WHERE id = ?").get(`n${i}`), { value: `w${i}` });
  }
  await assert.rejects(a.waitFor(10_000, 200), (e: unknown) => ColmenaError.is(e, "unavailable"));
  await a.close();
  await b.close();
  await assert.rejects(a.waitFor(10_000), (e: unknown) => ColmenaError.is(e, "unavailable"));
});

test("read model - folding continues across a nats-server restart", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url, { maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const { stream, subj, subjects } = await setup("rmrestart");
  await ensureStream(nc, { name: stream, subjects });
  const rm = await open(t, itemsModel(nc, stream, ":memory:"));
  await rm.waitFor(await publish(nc, `${subj}.ev.item.a`, { op: "set", value: "1" }));
  await ns.restart();
  // Publishing may fail until the client has reconnected.
  let seq = 0;
  const deadline = Date.now() + 20_000;
  while (seq === 0) {
    try { seq = await publish(nc, `${subj}.ev.item.b`, { op: "set", value: "2" }); } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
  await rm.waitFor(seq, 30_000);
  seq = await publish(nc, `${subj}.ev.item.c`, { op: "set", value: "3" });
  await rm.waitFor(seq, 30_000);
  assert.deepEqual(dump(rm.db).map((r) => (r as { id: string }).id), ["a", "b", "c"]);
  await rm.close();
});

test("read model - a recreated stream rebuilds the tables, while running and at open", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const jsm = await jetstreamManager(nc);
  const { stream, subj, subjects } = await setup("rmrecreate");
  await ensureStream(nc, { name: stream, subjects });
  const dir = tempDir(t);
  const file = join(dir, "m.sqlite");
  const rm = await open(t, itemsModel(nc, stream, file, { checkIntervalMs: 1000 }));
  for (let i = 0; i < 5; i++) await publish(nc, `${subj}.ev.item.old${i}`, { op: "set", value: "old" });
  await rm.waitFor(5);
  await jsm.streams.delete(stream);
  await ensureStream(nc, { name: stream, subjects });
  await publish(nc, `${subj}.ev.item.new1`, { op: "set", value: "new" });
  await publish(nc, `${subj}.ev.item.new2`, { op: "set", value: "new" });
  await until("the rebuild", () => JSON.stringify(dump(rm.db)) === JSON.stringify([
    { id: "new1", value: "new", seq: 1 }, { id: "new2", value: "new", seq: 2 },
  ]));
  assert.equal(rm.lastSeq, 2);
  await rm.close();

  // Closed while the stream is replaced: the next open notices.
  await jsm.streams.delete(stream);
  await ensureStream(nc, { name: stream, subjects });
  await publish(nc, `${subj}.ev.item.third`, { op: "set", value: "3rd" });
  const again = await open(t, itemsModel(nc, stream, file));
  assert.deepEqual(dump(again.db), [{ id: "third", value: "3rd", seq: 1 }]);
  await again.close();
});

test("read model - a purge of unapplied events rebuilds; a purge of applied ones keeps their effects", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const jsm = await jetstreamManager(nc);
  const { stream, subj, subjects } = await setup("rmpurge");
  await ensureStream(nc, { name: stream, subjects });
  const dir = tempDir(t);
  const file = join(dir, "m.sqlite");
  let rm = await open(t, itemsModel(nc, stream, file));
  for (let i = 1; i <= 3; i++) await publish(nc, `${subj}.ev.item.a${i}`, { op: "set", value: "a" });
  await rm.waitFor(3);
  // Applied, then purged: the model keeps them, like a snapshot.
  await jsm.streams.purge(stream);
  await rm.waitFor(await publish(nc, `${subj}.ev.item.b`, { op: "set", value: "b" }));
  assert.equal(dump(rm.db).length, 4);
  await rm.close();
  // Never applied, then purged: a fresh replica would not see a1..a3 nor c1, so neither do we.
  await publish(nc, `${subj}.ev.item.c1`, { op: "set", value: "c" });
  await jsm.streams.purge(stream);
  const last = await publish(nc, `${subj}.ev.item.d`, { op: "set", value: "d" });
  rm = await open(t, itemsModel(nc, stream, file));
  assert.equal(rm.lastSeq, last);
  assert.deepEqual(dump(rm.db), [{ id: "d", value: "d", seq: last }]);
  await rm.close();
});

test("read model - a filtered model moves past other subjects and skips an event whose apply throws", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, subj, subjects } = await setup("rmfilter");
  await ensureStream(nc, { name: stream, subjects });
  const base = itemsModel(nc, stream, ":memory:", { filterSubjects: [`${subj}.ev.item.>`, `${subj}.ev.bad.>`] });
  const rm = await open(t, {
    ...base,
    apply: (db, ev) => {
      base.apply(db, ev);
      if (ev.subject.includes(".bad.")) throw new Error("poison");
    },
  });
  await rm.waitFor(await publish(nc, `${subj}.ev.item.x`, { op: "set", value: "x" }));
  // Not in the filter: only the consumer's heartbeat tells us nothing of ours is at this sequence.
  const other = await publish(nc, `${subj}.ev.other.y`, { op: "set", value: "y" });
  await rm.waitFor(other, 15_000);
  assert.equal(rm.lastSeq, other);
  await publish(nc, `${subj}.ev.bad.z`, { op: "set", value: "z" });
  await rm.waitFor(await publish(nc, `${subj}.ev.item.w`, { op: "set", value: "w" }));
  assert.deepEqual(dump(rm.db).map((r) => (r as { id: string }).id), ["w", "x"], "the throwing event was rolled back");
  await rm.close();
});

test("read model - a consumer that stalls silently while a write waits for it is restarted within the wait, not at the next periodic check", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const jsm = await jetstreamManager(nc);
  const { stream, subj, subjects } = await setup("rmstall");
  await ensureStream(nc, { name: stream, subjects });
  const dir = tempDir(t);
  // The periodic check far away: only the waiter's nudge can restart the consumer in time.
  const rm = await open(t, itemsModel(nc, stream, join(dir, "m.sqlite"), { checkIntervalMs: 60_000 }));
  await rm.waitFor(await publish(nc, `${subj}.ev.item.a`, { op: "set", value: "1" }));
  // A paused consumer delivers nothing and reports nothing wrong: a silent stall, as on a forming cluster.
  const [consumer] = await jsm.consumers.list(stream).next();
  assert.ok(consumer, "the model's ordered consumer");
  await jsm.consumers.pause(stream, consumer.name, new Date(Date.now() + 120_000));
  const seq = await publish(nc, `${subj}.ev.item.b`, { op: "set", value: "2" });
  const started = Date.now();
  await rm.waitFor(seq, 5000);
  assert.ok(Date.now() - started < 4000, `folded after ${Date.now() - started} ms`);
  assert.deepEqual(dump(rm.db).map((r) => (r as { id: string }).id), ["a", "b"]);
});
