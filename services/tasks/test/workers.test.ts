import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { TASKS_STREAM, workConsumer } from "@colmena/tasks";
import { startNats } from "@colmena/testing";
import { call, eventually, taskEvents, tasksFixture } from "./helpers.ts";

test("tasks workers - a quick attempt records only its outcome; a long one records started and shows running", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  await fx.start({ role: "all" });
  const quick = await call(fx.nc, "tasks.submit", { type: "upper", input: "rápido", wait: true });
  assert.equal(quick.result, "RÁPIDO");
  const events = await taskEvents(fx.nc, quick.task_id);
  assert.deepEqual(events.map((e) => e.kind), ["submitted", "done"], "one write to submit, one to finish");
  const done = events[1];
  assert.ok(done.kind === "done" && done.started_at! <= done.ts, "done says when the attempt began");

  const slow = await call(fx.nc, "tasks.submit", { type: "sleep", input: 1 });
  const running = await eventually("the long task to show running", async () => {
    const r = await call(fx.nc, "tasks.get", { task_id: slow.task_id });
    return r.status === "running" ? r : undefined;
  });
  assert.equal(running.worker, "w-t1");
  await eventually("the long task to end", async () => ((await call(fx.nc, "tasks.get", { task_id: slow.task_id })).status === "done" ? true : undefined));
  const kinds = (await taskEvents(fx.nc, slow.task_id)).map((e) => e.kind);
  assert.equal(kinds[0], "submitted");
  assert.equal(kinds[1], "started");
  assert.equal(kinds.at(-1), "done");
});

test("tasks workers - a task delivered to a busy worker is handed back, and an idle worker runs it", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  await fx.start({ role: "api", instance: "api" });
  // The only worker at first: it takes the blocker, and its standing requests on
  // the other consumers stay first in line, so the urgent task is delivered to it.
  await fx.start({ role: "worker", instance: "busy", env: { COLMENA_TASKS_CONCURRENCY: "1" } });
  const blocker = await call(fx.nc, "tasks.submit", { type: "sleep", input: 4 });
  await eventually("the blocker to run", async () => {
    const r = await call(fx.nc, "tasks.get", { task_id: blocker.task_id });
    return r.status === "running" ? r : undefined;
  });
  await fx.start({ role: "worker", instance: "idle", env: { COLMENA_TASKS_CONCURRENCY: "1" } });
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  const urgent = await call(fx.nc, "tasks.submit", { type: "upper", input: "now", priority: "high", wait: true, timeout_ms: 3000 });
  const took = Date.now() - t0;
  const blockerNow = await call(fx.nc, "tasks.get", { task_id: blocker.task_id });
  assert.equal(urgent.result, "NOW");
  assert.equal(blockerNow.worker, "w-busy");
  assert.equal(urgent.worker, "w-idle");
  assert.ok(took < 2000, `took ${took} ms: it waited for the busy worker instead of going to the idle one`);
});

test("tasks workers - a pure task cancelled while queued may be computed but never ends done, and its run message is acked", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  await fx.start({ role: "api", instance: "api" });
  const r = await call(fx.nc, "tasks.submit", { type: "upper", input: "no" });
  assert.equal((await call(fx.nc, "tasks.cancel", { task_id: r.task_id })).status, "cancelled");
  // The worker starts after the cancel, so its first (and only) delivery finds the task cancelled.
  await fx.start({ role: "worker", instance: "w" });
  const jsm = await jetstreamManager(fx.nc);
  await eventually("the run message to be acked", async () => {
    const c = await jsm.consumers.info(TASKS_STREAM, workConsumer("normal"));
    return c.num_ack_pending === 0 && c.num_pending === 0 ? true : undefined;
  });
  assert.deepEqual((await taskEvents(fx.nc, r.task_id)).map((e) => e.kind), ["submitted", "cancelled"]);
  assert.equal((await call(fx.nc, "tasks.get", { task_id: r.task_id })).status, "cancelled");
});
