import { test } from "node:test";
import assert from "node:assert/strict";
import { ColmenaError, Headers, pushSubject, userChannel } from "@colmena/protocol";
import { startNats } from "@colmena/testing";
import { call, eventually, tasksFixture } from "./helpers.ts";
import { TEST_TYPES } from "./test-types.ts";

test("tasks failures - throws are retried with backoff, then done; a hang times out, retries and fails; nothing stays running", async (t) => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  await fx.start({ role: "all", extraTypes: TEST_TYPES });

  await t.test("a handler that throws twice is done on the third attempt", async () => {
    const r = await call(fx.nc, "tasks.submit", { type: "flaky", input: 2, wait: true });
    assert.equal(r.status, "done");
    assert.equal(r.result, "ok");
    assert.equal(r.attempts, 3);
  });

  await t.test("a handler that always throws fails after max_attempts, with its error, and is listed as a dead letter", async () => {
    // What the gateways get for the submitter's connections.
    const pushes: { event: string; data: { task_id: string; error: string } }[] = [];
    const sub = fx.nc.subscribe(pushSubject(userChannel("u1")), { callback: (_e, m) => { pushes.push({ event: m.headers?.get(Headers.event) ?? "", data: m.json() }); } });
    const err = await call(fx.nc, "tasks.submit", { type: "boom", input: "x", wait: true, max_attempts: 2 }).catch((e) => e);
    assert.ok(ColmenaError.is(err), String(err));
    const details = err.details as { task_id: string; status: string; attempts: number; error: string };
    assert.equal(details.status, "failed");
    assert.equal(details.attempts, 2);
    assert.match(details.error, /kaboom/);
    const rec = await call(fx.nc, "tasks.get", { task_id: details.task_id });
    assert.equal(rec.status, "failed");
    assert.match(rec.error, /kaboom/);
    const dead = await call(fx.nc, "tasks.list", { status: "failed" });
    assert.ok(dead.tasks.some((x: { task_id: string }) => x.task_id === details.task_id));
    await eventually("task.failed", () => (pushes.some((p) => p.event === "task.failed") ? true : undefined));
    const failed = pushes.filter((p) => p.data.task_id === details.task_id);
    assert.equal(failed.length, 1);
    assert.equal(failed[0].event, "task.failed");
    assert.match(failed[0].data.error, /kaboom/);
    sub.unsubscribe();
  });

  await t.test("a handler that hangs past its timeout is aborted and retried, then fails", async () => {
    const err = await call(fx.nc, "tasks.submit", { type: "hang", input: "x", wait: true, max_attempts: 2 }).catch((e) => e);
    const details = err.details as { task_id: string; status: string; attempts: number; error: string };
    assert.equal(details.status, "failed");
    assert.equal(details.attempts, 2);
    assert.match(details.error, /timed out/);
  });

  await t.test("an error marked permanent fails at once, without retries", async () => {
    const err = await call(fx.nc, "tasks.submit", { type: "refuse", input: "x", wait: true, max_attempts: 5 }).catch((e) => e);
    const details = err.details as { attempts: number; status: string };
    assert.equal(details.status, "failed");
    assert.equal(details.attempts, 1);
  });

  await t.test("no task is left running", async () => {
    const running = await call(fx.nc, "tasks.list", { status: "running" });
    assert.equal(running.tasks.length, 0);
  });
});

test("tasks failures - a submit with wait answers timeout while the task goes on", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  await fx.start({ role: "all" });
  const err = await call(fx.nc, "tasks.submit", { type: "sleep", input: 1, wait: true, timeout_ms: 200 }).catch((e) => e);
  assert.ok(ColmenaError.is(err, "timeout"), String(err));
  const taskId = (err.details as { task_id: string }).task_id;
  const done = await eventually("the task to finish", async () => {
    const r = await call(fx.nc, "tasks.get", { task_id: taskId });
    return r.status === "done" ? r : undefined;
  });
  assert.equal(done.result, 1);
});
