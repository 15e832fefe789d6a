import { test } from "node:test";
import assert from "node:assert/strict";
import { startNats } from "@colmena/testing";
import { call, eventually, taskEvents, tasksFixture } from "./helpers.ts";

test("tasks idempotency - one task per user and key, whichever replica and however concurrent", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  const a = await fx.start({ role: "all", instance: "a" });
  const b = await fx.start({ role: "api", instance: "b" });

  const first = await call(a.nc, "tasks.submit", { type: "upper", input: "uno", idempotency_key: "k1", wait: true });
  const again = await call(b.nc, "tasks.submit", { type: "upper", input: "something else", idempotency_key: "k1", wait: true });
  assert.equal(again.task_id, first.task_id);
  assert.equal(again.result, "UNO", "the first task's result");
  const noWait = await call(b.nc, "tasks.submit", { type: "upper", input: "uno", idempotency_key: "k1" });
  assert.deepEqual(noWait, { task_id: first.task_id, status: "done" });
  const other = await call(a.nc, "tasks.submit", { type: "upper", input: "uno", idempotency_key: "k1", wait: true }, "u2");
  assert.notEqual(other.task_id, first.task_id, "keys are per user");

  const racing = await Promise.all(
    Array.from({ length: 20 }, (_, i) => call(i % 2 ? a.nc : b.nc, "tasks.submit", { type: "reverse", input: "abc", idempotency_key: "race" })),
  );
  assert.equal(new Set(racing.map((r) => r.task_id)).size, 1);
  const kinds = (await taskEvents(fx.nc, racing[0].task_id)).map((e) => e.kind);
  assert.equal(kinds.filter((k) => k === "submitted").length, 1);
  await eventually("the raced task to finish", async () => ((await call(a.nc, "tasks.get", { task_id: racing[0].task_id })).status === "done" ? true : undefined));
  const after = (await taskEvents(fx.nc, racing[0].task_id)).map((e) => e.kind);
  assert.deepEqual(after, ["submitted", "released", "done"], "released once, ran once");
});

test("tasks scheduler - one leader at a time; when it dies another takes over and delayed tasks still run once", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  const a = await fx.start({ role: "api", instance: "a" });
  const b = await fx.start({ role: "api", instance: "b" });
  await fx.start({ role: "worker", instance: "w" });
  await eventually("a leader", () => (a.isLeader() || b.isLeader() ? true : undefined));
  assert.ok(a.isLeader() !== b.isLeader(), "exactly one leader");

  // Delayed tasks through both replicas, due together: each is released once.
  const dueIn = 600;
  const ids = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => (await call(i % 2 ? a.nc : b.nc, "tasks.submit", { type: "upper", input: `d${i}`, delay_ms: dueIn })).task_id),
  );
  // And some due after the leader is gone.
  const later = await Promise.all(
    Array.from({ length: 10 }, async (_, i) => (await call(i % 2 ? a.nc : b.nc, "tasks.submit", { type: "upper", input: `l${i}`, delay_ms: 2500 })).task_id),
  );
  await eventually("the first batch", async () => {
    const all = await Promise.all(ids.map((id) => call(a.nc, "tasks.get", { task_id: id })));
    return all.every((r) => r.status === "done") ? true : undefined;
  });

  // The leader dies without a goodbye: its key expires after the TTL.
  const [leader, survivor] = a.isLeader() ? [a, b] : [b, a];
  const diedAt = Date.now();
  await leader.nc.close();
  await eventually("the survivor to lead", () => (survivor.isLeader() ? true : undefined), 10_000);
  const takeover = Date.now() - diedAt;
  assert.ok(takeover >= 500, `took over after ${takeover} ms, before the 1.5 s key could expire?`);

  await eventually("the later batch", async () => {
    const all = await Promise.all(later.map((id) => call(survivor.nc, "tasks.get", { task_id: id })));
    return all.every((r) => r.status === "done") ? true : undefined;
  }, 15_000);
  for (const id of [...ids, ...later]) {
    const kinds = (await taskEvents(fx.nc, id)).map((e) => e.kind);
    assert.deepEqual(kinds, ["submitted", "released", "done"], `task ${id}: released once, ran once`);
  }
  const fresh = await call(survivor.nc, "tasks.submit", { type: "upper", input: "after", delay_ms: 100, wait: true });
  assert.equal(fresh.result, "AFTER");
});
