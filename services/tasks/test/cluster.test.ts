// @test-exclusive (scripts/run-tests.mjs: runs alone, after the others): three nats-servers losing a node.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { TASKS_STREAM, type RunningTasks } from "@colmena/tasks";
import { startNatsCluster } from "@colmena/testing";
import { call, taskEvents, tasksFixture } from "./helpers.ts";

/** Streams and KV buckets at 3 replicas, as in production. */
const R3 = { COLMENA_STREAM_REPLICAS: "3" };

test("tasks cluster - kill the stream leader's node while 1,000 tasks are in flight: every acknowledged task is done", async (t) => {
  await using cluster = await startNatsCluster(3);
  await using fx = await tasksFixture(cluster.urls);
  const api = await fx.start({ role: "api", instance: "api", env: R3 });
  await fx.start({ role: "worker", instance: "w1", env: R3 });
  await fx.start({ role: "worker", instance: "w2", env: R3 });
  const jsm = await jetstreamManager(fx.nc);
  assert.equal((await jsm.streams.info(TASKS_STREAM)).config.num_replicas, 3);
  const leader = (await jsm.streams.info(TASKS_STREAM)).cluster?.leader;
  const victim = cluster.servers.find((s) => s.name === leader)!;
  assert.ok(victim, `the TASKS leader ${leader} is one of ours`);

  const acked: string[] = [];
  /** The stream sequence each acknowledged submit was given (its `Colmena-Seq`). */
  const ackedSeq = new Map<string, number>();
  let refused = 0;
  const reasons = new Map<string, number>();
  let killed: Promise<unknown> | null = null;
  const submits = Array.from({ length: 1000 }, async (_, i) => {
    // Spread the submits over a couple of seconds so the kill lands mid-stream.
    await new Promise((r) => setTimeout(r, i * 2));
    try {
      const r = await call(fx.nc, "tasks.submit", { type: "upper", input: `n${i}` }, `user${i % 10}`, { timeoutMs: 60_000 });
      acked.push(r.task_id);
      ackedSeq.set(r.task_id, r._seq ?? 0);
    } catch (err) {
      refused++;
      const why = String((err as Error).message).replace(/t_[0-9a-f]+/g, "<id>").slice(0, 120);
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    if (acked.length === 300 && !killed) killed = victim.kill("SIGKILL");
  });
  await Promise.all(submits);
  await killed;
  t.diagnostic(`${acked.length} submits acknowledged, ${refused} refused (${JSON.stringify(Object.fromEntries(reasons))}), node ${leader} killed mid-run`);
  assert.ok(killed, "the node was killed while tasks were in flight");
  // Submits during the failover may be refused (the client then knows it must retry); the service keeps taking them.
  assert.ok(acked.length > 300, `submits acknowledged after the kill too: ${acked.length}`);

  const deadline = Date.now() + 90_000;
  const pending = new Set(acked);
  while (pending.size > 0 && Date.now() < deadline) {
    const rows = [...pending].map((id) => api.view!.queries.get(id));
    for (const r of rows) if (r?.status === "done") pending.delete(r.task_id);
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 200));
  }
  if (pending.size > 0) {
    // Say where they are stuck: in the stream (not run), only in the read model (not folded),
    // or nowhere: then what the stream holds at the sequence the submit was acknowledged with.
    await diagnose(t, pending, ackedSeq, api.view!, jsm, fx.nc).catch((err) => t.diagnostic(`diagnosis failed: ${err}`));
  }
  assert.equal(pending.size, 0, `${pending.size} acknowledged tasks never finished`);
  for (const id of acked) {
    const r = api.view!.queries.get(id)!;
    assert.equal(r.status, "done");
    assert.equal(JSON.parse(r.result!), JSON.parse(r.input).toUpperCase());
  }
});

async function diagnose(t: TestContext, pending: Set<string>, ackedSeq: Map<string, number>, view: NonNullable<RunningTasks["view"]>, jsm: JetStreamManager, nc: NatsConnection): Promise<void> {
  const streamLast = (await jsm.streams.info(TASKS_STREAM)).state.last_seq;
  t.diagnostic(`${pending.size} unfinished; read model at seq ${view.lastSeq()}, stream at ${streamLast}`);
  for (const id of [...pending].slice(0, 3)) {
    const kinds = (await taskEvents(nc, id)).map((e) => `${e.kind}@${e.seq}`);
    const seq = ackedSeq.get(id) ?? 0;
    const there = seq ? await jsm.streams.getMessage(TASKS_STREAM, { seq }).then((m) => m?.subject ?? "nothing", (err) => String(err)) : "-";
    t.diagnostic(`${id}: model says ${view.queries.get(id)?.status ?? "nothing"}, stream has ${kinds.join(" ") || "nothing"}; acked at seq ${seq}, where the stream has ${there}`);
  }
}
