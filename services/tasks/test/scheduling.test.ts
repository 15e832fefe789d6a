import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { ColmenaError } from "@colmena/protocol";
import { TASKS_STREAM, workConsumer } from "@colmena/tasks";
import { startNats } from "@colmena/testing";
import { call, eventually, taskEvents, tasksFixture } from "./helpers.ts";
import { TEST_TYPES, ranOrder } from "./test-types.ts";

test("tasks scheduling - priorities, delays and cancellation", async (t) => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  await fx.start({ role: "api", extraTypes: TEST_TYPES, instance: "api1" });

  await t.test("with the worker busy, high runs before normal before low", async () => {
    ranOrder.length = 0;
    const ids: string[] = [];
    for (const p of ["low", "normal", "high"] as const) {
      for (let i = 1; i <= 3; i++) ids.push((await call(fx.nc, "tasks.submit", { type: "record", input: `${p}${i}`, priority: p })).task_id);
    }
    const cancelled = (await call(fx.nc, "tasks.submit", { type: "record", input: "cancelled-before-running", priority: "high" })).task_id;
    assert.deepEqual(await call(fx.nc, "tasks.cancel", { task_id: cancelled }), { task_id: cancelled, status: "cancelled" });
    await fx.start({ role: "worker", extraTypes: TEST_TYPES, instance: "w1", env: { COLMENA_TASKS_CONCURRENCY: "1" } });
    await eventually("every task done", async () => {
      const r = await call(fx.nc, "tasks.list", { status: "done" });
      return r.tasks.length >= 9 ? true : undefined;
    });
    assert.deepEqual(ranOrder, ["high1", "high2", "high3", "normal1", "normal2", "normal3", "low1", "low2", "low3"]);
    const rec = await call(fx.nc, "tasks.get", { task_id: cancelled });
    assert.equal(rec.status, "cancelled");
    assert.ok(!(await taskEvents(fx.nc, cancelled)).some((e) => e.kind === "started"), "a task cancelled while queued never runs");
  });

  await t.test("a delayed task runs at its due time, not before", async (tt) => {
    const late: number[] = [];
    for (const delay of [300, 700]) {
      const r = await call(fx.nc, "tasks.submit", { type: "uppercase", input: "later", delay_ms: delay });
      const rec = await call(fx.nc, "tasks.get", { task_id: r.task_id }, "u1", { minSeq: r._seq });
      assert.equal(rec.status, "queued");
      assert.ok(rec.run_at >= rec.created_at + delay);
      const done = await eventually("the delayed task", async () => {
        const x = await call(fx.nc, "tasks.get", { task_id: r.task_id });
        return x.status === "done" ? x : undefined;
      });
      const kinds = (await taskEvents(fx.nc, r.task_id)).map((e) => e.kind);
      assert.deepEqual(kinds, ["submitted", "released", "done"], "an attempt this quick records only its outcome");
      const ended = (await taskEvents(fx.nc, r.task_id)).find((e) => e.kind === "done")!;
      const startedAt = ended.kind === "done" ? ended.started_at! : 0;
      assert.ok(startedAt >= rec.run_at, `started ${rec.run_at - startedAt} ms early`);
      assert.equal(done.result, "LATER");
      late.push(startedAt - rec.run_at);
    }
    tt.diagnostic(`delayed tasks started ${late.join(", ")} ms after their due time`);
  });

  await t.test("a delayed task cancelled before its time never runs", async () => {
    const r = await call(fx.nc, "tasks.submit", { type: "uppercase", input: "never", delay_ms: 400 });
    const c = await call(fx.nc, "tasks.cancel", { task_id: r.task_id }, "u1", { minSeq: r._seq });
    assert.equal(c.status, "cancelled");
    await new Promise((res) => setTimeout(res, 800));
    assert.deepEqual((await taskEvents(fx.nc, r.task_id)).map((e) => e.kind), ["submitted", "cancelled"]);
  });

  await t.test("a running task is asked to stop: it ends cancelled, never done, and its worker lets go at once", async () => {
    const r = await call(fx.nc, "tasks.submit", { type: "sleep", input: 10 });
    await eventually("the task to run", async () => ((await call(fx.nc, "tasks.get", { task_id: r.task_id })).status === "running" ? true : undefined));
    const cancelledAt = Date.now();
    assert.equal((await call(fx.nc, "tasks.cancel", { task_id: r.task_id })).status, "cancelled");
    const jsm = await jetstreamManager(fx.nc);
    await eventually("the run message to be acked", async () => ((await jsm.consumers.info(TASKS_STREAM, workConsumer("normal"))).num_ack_pending === 0 ? true : undefined), 5000);
    assert.ok(Date.now() - cancelledAt < 5000);
    const kinds = (await taskEvents(fx.nc, r.task_id)).map((e) => e.kind);
    assert.ok(!kinds.includes("done"), kinds.join(","));
    assert.equal(kinds.at(-1), "cancelled");
    const again = await call(fx.nc, "tasks.cancel", { task_id: r.task_id });
    assert.equal(again.status, "cancelled", "cancelling twice is harmless");
  });

  await t.test("cancelling a finished task leaves it as it is; other users get not_found", async () => {
    const r = await call(fx.nc, "tasks.submit", { type: "reverse", input: "abc", wait: true });
    assert.deepEqual(await call(fx.nc, "tasks.cancel", { task_id: r.task_id }), { task_id: r.task_id, status: "done" });
    for (const op of ["tasks.cancel", "tasks.get"]) {
      const err = await call(fx.nc, op, { task_id: r.task_id }, "someone-else").catch((e) => e);
      assert.ok(ColmenaError.is(err, "not_found"), `${op}: ${err}`);
    }
  });
});

test("tasks scheduling - a delayed task is released by the server at its due time with no API instance running, once, and soon after", async (t) => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  const api = await fx.start({ role: "api", instance: "api1" });
  // The work consumers exist before the tasks fall due (a worker made them), then no worker either.
  const early = await fx.start({ role: "worker", instance: "w0" });
  await early.stop();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await call(fx.nc, "tasks.submit", { type: "uppercase", input: `due${i}`, delay_ms: 2000 + i * 100 })).task_id);
  const runAt = new Map<string, number>();
  for (const id of ids) {
    const rec = await call(fx.nc, "tasks.get", { task_id: id });
    assert.equal(rec.status, "queued");
    runAt.set(id, rec.run_at);
  }
  // Nothing of ours is left to release them: no API instance, no leader.
  await api.stop();
  await api.nc.close();
  await fx.start({ role: "worker", instance: "w1" });
  const late: number[] = [];
  for (const id of ids) {
    const events = await eventually(`task ${id} done`, async () => {
      const evs = await taskEvents(fx.nc, id);
      return evs.some((e) => e.kind === "done") ? evs : undefined;
    });
    assert.deepEqual(events.map((e) => e.kind), ["submitted", "released", "done"], "released once, ran once");
    const done = events.find((e) => e.kind === "done")!;
    const startedAt = done.kind === "done" ? done.started_at! : 0;
    assert.ok(startedAt >= runAt.get(id)!, `started ${runAt.get(id)! - startedAt} ms early`);
    late.push(startedAt - runAt.get(id)!);
  }
  t.diagnostic(`released by the server; started ${late.join(", ")} ms after the due time`);
  // nats-server fires schedules up to 250 ms late (it looks at most every 250 ms): released early, started on time.
  assert.ok(Math.max(...late) <= 100, `lateness ${late.join(", ")} ms`);
});
