import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { ColmenaError } from "@colmena/protocol";
import { EntityLog, ensureStream, type EntityLogOptions } from "@colmena/runtime";
import { startNats, startNatsProxy, uniqueName } from "@colmena/testing";

interface Counter { n: number; by: string }

/** A connection closed after the test, pass or fail; it reconnects fast and for good. */
async function conn(t: TestContext, servers: string, opts: ConnectionOptions = {}): Promise<NatsConnection> {
  const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100, ...opts });
  t.after(() => nc.close());
  return nc;
}

/** A fresh stream `<NAME>` on `<name>.>`, and an entity subject in it. */
async function entityStream(nc: NatsConnection, spec: { duplicate_window?: number } = {}) {
  const stream = uniqueName("ENTITIES");
  const prefix = stream.toLowerCase();
  await ensureStream(nc, { name: stream, subjects: [`${prefix}.>`], ...spec });
  return { stream, entity: (id: string) => `${prefix}.ev.${id}` };
}

function open(nc: NatsConnection, stream: string, opts?: EntityLogOptions): EntityLog<Counter> {
  return new EntityLog<Counter>(nc, stream, opts);
}

/** How many messages the stream holds on `subject`. */
async function storedOn(nc: NatsConnection, stream: string, subject: string): Promise<number> {
  const info = await (await jetstreamManager(nc)).streams.info(stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

test("entity log - appends expecting the entity's last sequence; a stale expectation is a conflict", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, entity } = await entityStream(nc);
  const log = open(nc, stream);
  const e = entity("a");
  assert.equal(await log.last(e), null);

  const first = await log.append(e, { n: 1, by: "x" }, 0);
  assert.ok(first.ok && !first.duplicate);
  assert.deepEqual(await log.last(e), { seq: first.seq, event: { n: 1, by: "x" } });
  // 0 means "new": the entity exists now.
  assert.deepEqual(await log.append(e, { n: 9, by: "x" }, 0), { ok: false, conflict: true });
  const second = await log.append(e, { n: 2, by: "x" }, first.seq);
  assert.ok(second.ok && second.seq > first.seq);
  assert.deepEqual(await log.append(e, { n: 9, by: "x" }, first.seq), { ok: false, conflict: true });
  // No expectation: always lands.
  const third = await log.append(e, { n: 3, by: "x" }, undefined);
  assert.ok(third.ok);
  assert.equal((await log.last(e))?.event.n, 3);
  // The same message id again is the same write, stored once.
  const again = await log.append(e, { n: 3, by: "x" }, undefined, "op-1");
  const repeat = await log.append(e, { n: 3, by: "x" }, undefined, "op-1");
  assert.ok(again.ok && repeat.ok && repeat.duplicate && repeat.seq === again.seq);
  assert.equal(await storedOn(nc, stream, e), 4);
});

test("entity log - two writers racing on one entity: one wins, the other sees conflict and retries", async (t) => {
  await using ns = await startNats();
  const [nc1, nc2] = [await conn(t, ns.url), await conn(t, ns.url)];
  const { stream, entity } = await entityStream(nc1);
  const logs = [open(nc1, stream), open(nc2, stream)];
  const e = entity("counter");

  // Both create the entity at once: exactly one wins.
  const created = await Promise.all(logs.map((log, i) => log.append(e, { n: 0, by: `w${i}` }, 0)));
  assert.equal(created.filter((r) => r.ok).length, 1);
  assert.deepEqual(created.find((r) => !r.ok), { ok: false, conflict: true });

  // Each writer increments 15 times, re-reading and retrying whenever the other won.
  let conflicts = 0;
  const writer = async (log: EntityLog<Counter>, name: string) => {
    for (let done = 0; done < 15; ) {
      const last = (await log.last(e))!;
      const r = await log.append(e, { n: last.event.n + 1, by: name }, last.seq);
      if (r.ok) done++;
      else conflicts++;
    }
  };
  await Promise.all(logs.map((log, i) => writer(log, `w${i}`)));
  // No increment was lost: every write was made against the state it read.
  assert.equal((await logs[0].last(e))?.event.n, 30);
  assert.equal(await storedOn(nc1, stream, e), 31);
  t.diagnostic(`conflicts retried: ${conflicts}`);
});

test("entity log - an append whose ack was lost (connection cut after the write) is ours, stored once", async (t) => {
  await using ns = await startNats();
  await using proxy = await startNatsProxy(ns.url);
  const nc = await conn(t, proxy.url);
  const { stream, entity } = await entityStream(nc);
  const log = open(nc, stream);
  const e = entity("lost-ack");

  const cut = proxy.loseAnswerTo(e);
  const r = await log.append(e, { n: 1, by: "x" }, 0);
  await cut;
  // The first try landed; the retry after the reconnect got the duplicate's ack, not a conflict.
  assert.ok(r.ok, "the write is ours");
  assert.equal(r.duplicate, true);
  assert.equal(await storedOn(nc, stream, e), 1);
});

test("entity log - past the duplicate window, our own earlier write on the entity is still recognised", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  // A 100 ms duplicate window: the server forgets message ids almost at once.
  const { stream, entity } = await entityStream(nc, { duplicate_window: 100_000_000 });
  const log = open(nc, stream);
  const e = entity("late-retry");
  // An earlier try of this write landed (its ack lost) long enough ago for the window to close.
  const landed = await jetstream(nc).publish(e, JSON.stringify({ n: 1, by: "x" }), { msgID: "register-7", expect: { lastSubjectSequence: 0 } });
  await sleep(400);

  const r = await log.append(e, { n: 1, by: "x" }, 0, "register-7");
  assert.deepEqual(r, { ok: true, seq: landed.seq, duplicate: true });
  // Someone else's id on the entity is a conflict.
  assert.deepEqual(await log.append(e, { n: 1, by: "y" }, 0, "register-8"), { ok: false, conflict: true });
  assert.equal(await storedOn(nc, stream, e), 1);
});

test("entity log - writes in flight when nats-server restarts, and made while it is down, land exactly once", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, entity } = await entityStream(nc);
  // Short answer timeouts: several tries are made during the outage.
  const log = open(nc, stream, { answerTimeoutMs: 500 });
  const n = 40;
  const created = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const r = await log.append(entity(`e${i}`), { n: 0, by: "x" }, 0);
    assert.ok(r.ok);
    return r.seq;
  }));

  // Writes sent just before the server goes down: some are stored with their acks lost, some never arrive.
  const inFlight = created.map((seq, i) => log.append(entity(`e${i}`), { n: 1, by: "x" }, seq));
  await Promise.race(inFlight);
  await ns.kill("SIGKILL");
  const whileDown = log.append(entity("e0"), { n: 2, by: "x" }, undefined);
  await sleep(1500);
  await ns.restart();

  const results = await Promise.all([...inFlight, whileDown]);
  assert.ok(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok)));
  t.diagnostic(`acknowledged as duplicates of a try that had landed: ${results.filter((r) => r.ok && r.duplicate).length}`);
  for (let i = 1; i < n; i++) assert.equal(await storedOn(nc, stream, entity(`e${i}`)), 2, `e${i}`);
  assert.equal(await storedOn(nc, stream, entity("e0")), 3);
  assert.equal((await log.last(entity("e0")))?.event.n, 2);
});

test("entity log - a burst over the stream's ingest limit (429 JSStreamTooManyRequests) is retried, never lost", async (t) => {
  // nats-server 2.11+ drops publishes beyond the per-stream ingest queue and answers 429.
  await using ns = await startNats({ maxBufferedMsgs: 4 });
  const nc = await conn(t, ns.url);
  const { stream, entity } = await entityStream(nc);
  const log = open(nc, stream);
  const n = 300;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => log.append(entity(`e${i}`), { n: i, by: "burst" }, 0)));
  assert.equal(results.filter((r) => r.ok && !r.duplicate).length, n);
  const info = await (await jetstreamManager(nc)).streams.info(stream);
  assert.equal(info.state.messages, n);
});

test("entity log - an outage longer than retryForMs ends as unavailable", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, entity } = await entityStream(nc);
  const log = open(nc, stream, { retryForMs: 1000, answerTimeoutMs: 300 });
  await ns.kill();
  const started = Date.now();
  await assert.rejects(log.append(entity("x"), { n: 1, by: "x" }, 0), (err: unknown) => ColmenaError.is(err, "unavailable"));
  await assert.rejects(log.last(entity("x")), (err: unknown) => ColmenaError.is(err, "unavailable"));
  assert.ok(Date.now() - started < 10_000);
});

test("entity log - group commit: one turn's appends land as one atomic batch; one failed expectation costs only its own append", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, entity } = await entityStream(nc, { allow_atomic: true } as { duplicate_window?: number });
  const log = open(nc, stream, { groupCommit: 4 });
  const jsm = await jetstreamManager(nc);
  const batchesBefore = async () => (await jsm.streams.info(stream)).state.last_seq;

  // Eight appends in one turn: one batch, stored contiguously and in order, each with its own sequence.
  const ids = Array.from({ length: 8 }, (_, i) => `g${i}`);
  const results = await Promise.all(ids.map((id, i) => log.append(entity(id), { n: i, by: "batch" }, 0)));
  const seqs = results.map((r) => (r.ok ? r.seq : -1));
  assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i), "contiguous, in call order");
  for (const [i, id] of ids.entries()) assert.deepEqual(await log.last(entity(id)), { seq: seqs[i], event: { n: i, by: "batch" } });
  const batchIds = await Promise.all(seqs.map(async (seq) => (await jsm.streams.getMessage(stream, { seq }))?.header.get("Nats-Batch-Id")));
  assert.ok(batchIds[0] && batchIds.every((b) => b === batchIds[0]), `one batch: ${batchIds.join(", ")}`);

  // One of a turn's appends expects a stale sequence: the batch is refused, the others land alone, it conflicts.
  const before = await batchesBefore();
  const mixed = await Promise.all(ids.map((id, i) => log.append(entity(id), { n: i + 10, by: "second" }, i === 3 ? 0 : seqs[i])));
  assert.deepEqual(mixed.map((r) => r.ok), ids.map((_, i) => i !== 3));
  assert.equal((await batchesBefore()) - before, 7, "the refused batch stored nothing; seven landed alone");
  assert.deepEqual((await log.last(entity("g3")))?.event, { n: 3, by: "batch" });
  assert.deepEqual((await log.last(entity("g5")))?.event, { n: 15, by: "second" });

  // Fewer than groupCommit in a turn go alone, as without it.
  const few = await Promise.all(["h0", "h1"].map((id) => log.append(entity(id), { n: 0, by: "few" }, 0)));
  assert.ok(few.every((r) => r.ok));
});
