import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { startNats, startNatsCluster, uniqueName, waitUntil } from "@colmena/testing";
import { ColmenaError } from "@colmena/protocol";
import { backoffDelay, defaultBackoff, ensureStream, runConsumer, silentLogger, type RunningConsumer, type WorkConsumerOptions, type WorkMsg } from "@colmena/runtime";

async function workStream(nc: NatsConnection) {
  const stream = uniqueName("WORK");
  const subject = `${stream.toLowerCase()}.job`;
  await ensureStream(nc, { name: stream, subjects: [`${subject}.>`], retention: RetentionPolicy.Workqueue });
  const js = jetstream(nc);
  const publish = async (n: number) => {
    const seqs: number[] = [];
    for (let i = 0; i < n; i++) seqs.push((await js.publish(`${subject}.${i}`, JSON.stringify({ i }))).seq);
    return seqs;
  };
  return { stream, subject, durable: uniqueName("workers"), publish };
}

function base(nc: NatsConnection, stream: string, durable: string, handle: WorkConsumerOptions["handle"]): WorkConsumerOptions {
  return { nc, stream, consumers: [{ durable }], handle, log: silentLogger() };
}

/** A connection closed after the test, pass or fail. */
async function conn(t: TestContext, url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url });
  t.after(() => nc.close());
  return nc;
}

/** A running consumer stopped after the test, pass or fail. */
async function run(t: TestContext, opts: WorkConsumerOptions): Promise<RunningConsumer> {
  const c = await runConsumer(opts);
  t.after(() => c.stop());
  return c;
}

const until = (what: string, cond: () => boolean, ms = 20_000) => waitUntil(what, cond, ms);

test("work consumer - default backoff grows with the delivery count, with jitter, capped at 30 s", () => {
  for (let n = 1; n <= 8; n++) {
    const full = Math.min(30_000, 500 * 2 ** (n - 1));
    for (let k = 0; k < 20; k++) {
      const d = defaultBackoff(n);
      assert.ok(d >= full / 2 && d <= full, `delivery ${n}: ${d} not in [${full / 2}, ${full}]`);
    }
  }
  assert.ok(defaultBackoff(40) <= 30_000);
});

test("work consumer - backoffDelay doubles per attempt with jitter and a ceiling", () => {
  for (let i = 0; i < 200; i++) {
    const d1 = backoffDelay(1, 100, 10_000);
    const d3 = backoffDelay(3, 100, 10_000);
    const d20 = backoffDelay(20, 100, 10_000);
    assert.ok(d1 >= 50 && d1 <= 100, `attempt 1: ${d1}`);
    assert.ok(d3 >= 200 && d3 <= 400, `attempt 3: ${d3}`);
    assert.ok(d20 >= 5000 && d20 <= 10_000, `attempt 20: ${d20}`);
  }
  const many = new Set(Array.from({ length: 50 }, () => backoffDelay(5, 100, 10_000)));
  assert.ok(many.size > 10, "jitter spreads retries");
});

test("work consumer - acks on success", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc);
  const seen: number[] = [];
  const c = await run(t, base(nc, stream, durable, async (m) => { seen.push(m.json<{ i: number }>().i); }));
  await publish(5);
  await until("5 messages", () => seen.length === 5);
  const jsm = await jetstreamManager(nc);
  let ci = await jsm.consumers.info(stream, durable);
  for (let i = 0; i < 100 && ci.ack_floor.stream_seq < 5; i++) {
    await sleep(20);
    ci = await jsm.consumers.info(stream, durable);
  }
  assert.equal(ci.num_ack_pending, 0);
  assert.equal(ci.ack_floor.stream_seq, 5);
  assert.equal(ci.config.max_deliver, 6, "one delivery is reserved for the dead-letter hook");
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  await c.stop();
});

test("work consumer - an instance started with other settings brings the existing durable up to date", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc);
  const handled: number[] = [];
  const handle = async (m: WorkMsg) => void handled.push(m.seq);
  await (await runConsumer({ ...base(nc, stream, durable, handle), ackWaitMs: 1000, maxAckPending: 10 })).stop();
  // The next release asks for other limits: the durable is updated, not refused, and still works.
  await run(t, { ...base(nc, stream, durable, handle), ackWaitMs: 3000, maxAckPending: 7, maxDeliver: 4 });
  const info = await (await jetstreamManager(nc)).consumers.info(stream, durable);
  assert.equal(info.config.ack_wait, 3000 * 1_000_000);
  assert.equal(info.config.max_ack_pending, 7);
  assert.equal(info.config.max_deliver, 5, "maxDeliver and the delivery reserved for the dead-letter hook");
  const seqs = await publish(2);
  await until("both handled", () => handled.length === 2);
  assert.deepEqual(handled, seqs);
});

test("work consumer - a throwing handler is retried with growing delay and delivery count", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc);
  const deliveries: { count: number; at: number }[] = [];
  const c = await run(t, {
    ...base(nc, stream, durable, async (m) => {
      deliveries.push({ count: m.deliveryCount, at: Date.now() });
      if (m.deliveryCount < 3) throw new Error("flaky");
    }),
    backoffMs: (n) => n * 400,
  });
  await publish(1);
  await until("3 deliveries", () => deliveries.length === 3);
  assert.deepEqual(deliveries.map((d) => d.count), [1, 2, 3]);
  const gap1 = deliveries[1].at - deliveries[0].at;
  const gap2 = deliveries[2].at - deliveries[1].at;
  assert.ok(gap1 >= 350, `first retry after ${gap1} ms, asked 400`);
  assert.ok(gap2 >= 750, `second retry after ${gap2} ms, asked 800`);
  await c.stop();
});

test("work consumer - a non-retryable ColmenaError dead-letters at once", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc);
  let handled = 0;
  const dead: { msg: WorkMsg; err: unknown }[] = [];
  const c = await run(t, {
    ...base(nc, stream, durable, async () => { handled++; throw new ColmenaError("bad_request", "no such thing"); }),
    ackWaitMs: 1000,
    onDeadLetter: async (msg, err) => { dead.push({ msg, err }); },
  });
  await publish(1);
  await until("the dead letter", () => dead.length === 1);
  assert.equal(dead[0].msg.deliveryCount, 1);
  assert.ok(ColmenaError.is(dead[0].err, "bad_request"));
  await sleep(1500); // past ack_wait: nothing comes back
  assert.equal(handled, 1);
  assert.equal(dead.length, 1);
  const ci = await (await jetstreamManager(nc)).consumers.info(stream, durable);
  assert.equal(ci.num_ack_pending + ci.num_pending, 0);
  await c.stop();
});

test("work consumer - exhausted deliveries call onDeadLetter exactly once, even when the last attempt stalls", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc);
  const calls = new Map<number, number[]>();
  const dead: { seq: number; count: number; err: unknown }[] = [];
  const [failing, stalling] = await publish(2);
  const c = await run(t, {
    ...base(nc, stream, durable, async (m) => {
      calls.set(m.seq, [...(calls.get(m.seq) ?? []), m.deliveryCount]);
      if (m.seq === stalling && m.deliveryCount === 3) await sleep(2500); // past ack_wait, no result
      throw new Error("always fails");
    }),
    concurrency: 2,
    maxDeliver: 3,
    ackWaitMs: 1000,
    backoffMs: () => 50,
    onDeadLetter: async (msg, err) => { dead.push({ seq: msg.seq, count: msg.deliveryCount, err }); },
  });
  await until("both dead letters", () => dead.length === 2);
  await sleep(2000);
  assert.deepEqual(calls.get(failing), [1, 2, 3]);
  assert.deepEqual(calls.get(stalling), [1, 2, 3]);
  assert.equal(dead.filter((d) => d.seq === failing).length, 1);
  assert.equal(dead.filter((d) => d.seq === stalling).length, 1);
  const stalled = dead.find((d) => d.seq === stalling)!;
  assert.equal(stalled.count, 4, "the reserved delivery runs the hook, not the handler");
  assert.ok(ColmenaError.is(stalled.err, "timeout"));
  await c.stop();
});

test("work consumer - two instances share the work, each message handled once", async (t) => {
  await using ns = await startNats();
  const nc1 = await conn(t, ns.url);
  const nc2 = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc1);
  const handledBy = new Map<number, string[]>();
  const worker = (nc: NatsConnection, name: string) =>
    run(t, {
      ...base(nc, stream, durable, async (m) => {
        handledBy.set(m.seq, [...(handledBy.get(m.seq) ?? []), name]);
        await sleep(15);
      }),
      concurrency: 2,
    });
  const a = await worker(nc1, "a");
  const b = await worker(nc2, "b");
  const seqs = await publish(40);
  await until("40 messages", () => handledBy.size === 40);
  await sleep(300);
  for (const s of seqs) assert.equal(handledBy.get(s)?.length, 1, `seq ${s} handled by ${handledBy.get(s)}`);
  const byA = [...handledBy.values()].filter((v) => v[0] === "a").length;
  assert.ok(byA > 0 && byA < 40, `a handled ${byA} of 40`);
  await a.stop();
  await b.stop();
});

test("work consumer - a handler that stalls past ack_wait is redelivered to another instance; working() prevents it", async (t) => {
  await using ns = await startNats();
  const nc1 = await conn(t, ns.url);
  const nc2 = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc1);
  const log: string[] = [];
  const [stalled, kept] = await publish(2);
  const a = await run(t, {
    ...base(nc1, stream, durable, async (m) => {
      log.push(`a:${m.seq}:${m.deliveryCount}`);
      if (m.seq === stalled) { await sleep(2500); return; }
      for (let i = 0; i < 10; i++) { m.working(); await sleep(250); }
    }),
    ackWaitMs: 1000,
    concurrency: 2,
  });
  await until("a took both", () => log.length === 2);
  const b = await run(t, {
    ...base(nc2, stream, durable, async (m) => { log.push(`b:${m.seq}:${m.deliveryCount}`); }),
    ackWaitMs: 1000,
  });
  await until("the stalled one redelivered to b", () => log.includes(`b:${stalled}:2`), 10_000);
  await sleep(2000); // the kept one has run 2.5 s, well past ack_wait
  assert.ok(!log.some((l) => l.startsWith(`b:${kept}`)), log.join(" "));
  assert.equal(log.filter((l) => l.includes(`:${kept}:`)).length, 1);
  await a.stop();
  await b.stop();
});

test("work consumer - heartbeat: work longer than ack_wait stays with its live instance; a dead instance's goes elsewhere within ack_wait", async (t) => {
  await using ns = await startNats();
  const nc1 = await connect({ servers: ns.url });
  const nc2 = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc2);
  const log: string[] = [];
  const [long, doomed] = await publish(2);
  // Instance a holds both; it never calls working(): the recipe does.
  await runConsumer({
    ...base(nc1, stream, durable, async (m) => { log.push(`a:${m.seq}`); await sleep(m.seq === long ? 2500 : 60_000); }),
    ackWaitMs: 1000,
    concurrency: 2,
    heartbeat: true,
  });
  await until("a took both", () => log.length === 2);
  const b = await run(t, { ...base(nc2, stream, durable, async (m) => { log.push(`b:${m.seq}:${m.deliveryCount}`); }), ackWaitMs: 1000, heartbeat: true });
  await sleep(2000); // the long one has run 2 s, twice ack_wait
  assert.ok(!log.some((l) => l.startsWith("b:")), log.join(" "));
  // a dies (its connection gone, as when SIGKILLed): its messages come to b after ack_wait, not before.
  const diedAt = Date.now();
  await nc1.close();
  await until("the dead instance's work taken over", () => log.includes(`b:${doomed}:2`), 10_000);
  const took = Date.now() - diedAt;
  assert.ok(took <= 2500, `taken over after ${took} ms (ack_wait 1 s)`);
  await b.stop();
});

test("work consumer - stop() waits for in-flight work and fetches no more", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc);
  let started = 0;
  let finished = 0;
  const c = await run(t, base(nc, stream, durable, async () => { started++; await sleep(500); finished++; }));
  await publish(1);
  await until("work started", () => started === 1);
  await c.stop();
  assert.equal(finished, 1);
  await publish(1);
  await sleep(500);
  assert.equal(started, 1);
  const ci = await (await jetstreamManager(nc)).consumers.info(stream, durable);
  assert.equal(ci.num_pending, 1);
});

test("work consumer - recovers when its durable is deleted under it", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc);
  const seen: number[] = [];
  const c = await run(t, base(nc, stream, durable, async (m) => { seen.push(m.seq); }));
  await publish(1);
  await until("first message", () => seen.length === 1);
  await (await jetstreamManager(nc)).consumers.delete(stream, durable);
  await publish(1);
  await until("the consumer recreated and the second message handled", () => seen.length === 2, 30_000);
  assert.deepEqual(seen, [1, 2]);
  await c.stop();
});

test("work consumer - keeps working across a nats-server restart", async (t) => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  t.after(() => nc.close());
  const { stream, durable, publish } = await workStream(nc);
  const seen: number[] = [];
  await run(t, base(nc, stream, durable, async (m) => { seen.push(m.seq); }));
  await publish(1);
  await until("first message", () => seen.length === 1);
  // Restart only once the server has recorded the ack: an ack still in flight at
  // shutdown is lost, and redelivering that message would be correct at-least-once.
  const jsm = await jetstreamManager(nc);
  await waitUntil("the first message's ack recorded", async () => (await jsm.consumers.info(stream, durable)).ack_floor.stream_seq >= 1);
  await ns.restart();
  const deadline = Date.now() + 20_000;
  for (;;) {
    try { await publish(1); break; } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
  await until("the message published after the restart", () => seen.length === 2, 30_000);
  assert.deepEqual(seen, [1, 2]);
});

test("work consumer - a busy instance takes the first durable's messages before the later ones'", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const stream = uniqueName("PRIO");
  await ensureStream(nc, { name: stream, subjects: ["prio.>"], retention: RetentionPolicy.Workqueue });
  const js = jetstream(nc);
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  await run(t, {
    nc,
    stream,
    log: silentLogger(),
    consumers: [{ durable: "hi", filterSubjects: ["prio.hi.*"] }, { durable: "lo", filterSubjects: ["prio.lo.*"] }],
    handle: async (m) => {
      order.push(m.subject);
      if (order.length === 1) await gate;
    },
  });
  await js.publish("prio.lo.0", "x");
  await until("the first low message taken", () => order.length === 1);
  for (let i = 1; i <= 3; i++) await js.publish(`prio.lo.${i}`, "x");
  for (let i = 1; i <= 3; i++) await js.publish(`prio.hi.${i}`, "x");
  release();
  await until("all seven handled", () => order.length === 7);
  assert.deepEqual(order, ["prio.lo.0", "prio.hi.1", "prio.hi.2", "prio.hi.3", "prio.lo.1", "prio.lo.2", "prio.lo.3"]);
});

test("work consumer - a handler that settles its message itself is not acked again; leave() waits for ack_wait", async (t) => {
  await using ns = await startNats();
  const nc = await conn(t, ns.url);
  const { stream, durable, publish } = await workStream(nc);
  const seen: { seq: number; count: number; at: number }[] = [];
  await run(t, {
    ...base(nc, stream, durable, async (m) => {
      seen.push({ seq: m.seq, count: m.deliveryCount, at: Date.now() });
      if (m.seq === 1 && m.deliveryCount === 1) m.nak(300);
      else if (m.seq === 2 && m.deliveryCount === 1) m.leave();
      else m.ack();
    }),
    ackWaitMs: 1500,
  });
  await publish(2);
  await until("both redelivered", () => seen.filter((s) => s.count === 2).length === 2, 10_000);
  const gap = (seq: number) => seen.filter((s) => s.seq === seq).map((s) => s.at).reduce((a, b) => b - a);
  assert.ok(gap(1) >= 250 && gap(1) < 1400, `nak(300) redelivered after ${gap(1)} ms`);
  assert.ok(gap(2) >= 1300, `left delivery redelivered after ${gap(2)} ms, ack_wait 1500`);
  await sleep(1800);
  assert.equal(seen.length, 4, "settled deliveries come back no more");
});

test("work consumer - what a stopping instance's open pull request still delivers is handed back, not left to ack_wait", async (t) => {
  await using ns = await startNats();
  const nc1 = await conn(t, ns.url);
  const nc2 = await conn(t, ns.url);
  const { stream, subject, durable } = await workStream(nc2);
  const seen: string[] = [];
  const a = await runConsumer({ ...base(nc1, stream, durable, async (m) => { seen.push(`a:${m.seq}`); }), ackWaitMs: 30_000, requestExpiresMs: 3000 });
  t.after(() => a.stop());
  const jsm = await jetstreamManager(nc2);
  await waitUntil("a's standing request open", async () => (await jsm.consumers.info(stream, durable)).num_waiting > 0);
  // The server delivers to a's open request while a's process is busy; a stops before it reads the delivery.
  nc2.publish(`${subject}.0`, JSON.stringify({ i: 0 }));
  await nc2.flush();
  for (const until = Date.now() + 200; Date.now() < until; );
  await a.stop();
  const b = await run(t, { ...base(nc2, stream, durable, async (m) => { seen.push(`b:${m.seq}`); }), ackWaitMs: 30_000 });
  await until("the message handled by b well before ack_wait", () => seen.includes("b:1"), 5000);
  assert.deepEqual(seen, ["b:1"]);
  await b.stop();
});

test("work consumer - keeps working when its durable's leader moves (3-node cluster)", async (t) => {
  await using cluster = await startNatsCluster(3);
  const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  t.after(() => nc.close());
  const stream = uniqueName("MOVE");
  const jsm = await jetstreamManager(nc);
  await waitUntil("the cluster takes the stream", async () => {
    try { await jsm.streams.add({ name: stream, subjects: ["move.>"], retention: RetentionPolicy.Workqueue, num_replicas: 3 }); return true; } catch { return false; }
  }, 30_000);
  const js = jetstream(nc);
  const seen: number[] = [];
  await run(t, base(nc, stream, "movers", async (m) => { seen.push(m.seq); }));
  await js.publish("move.0", "x");
  await until("the first message", () => seen.length === 1);
  const before = (await jsm.consumers.info(stream, "movers")).cluster?.leader;
  await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.movers`, "", { timeout: 5000 });
  await waitUntil("a new consumer leader", async () => {
    const now = (await jsm.consumers.info(stream, "movers").catch(() => null))?.cluster?.leader;
    return now !== undefined && now !== before;
  }, 20_000);
  for (let i = 1; i <= 5; i++) await js.publish(`move.${i}`, "x");
  await until("the messages published after the move", () => seen.length === 6, 15_000);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
});
