import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { ColmenaError } from "@colmena/protocol";
import { TASKS_STREAM, purgedSubject, type RunningTasks } from "@colmena/tasks";
import { metrics } from "@colmena/runtime";
import { startNats } from "@colmena/testing";
import { call, eventually, taskEvents, tasksFixture } from "./helpers.ts";

const RETENTION_MS = 500;
const env = { COLMENA_TASKS_RETENTION_MS: String(RETENTION_MS) };

/** The task as the protocol shows it, or "gone" once `tasks.get` answers not_found. */
async function status(nc: Parameters<typeof call>[0], taskId: string): Promise<string> {
  try {
    return (await call(nc, "tasks.get", { task_id: taskId })).status;
  } catch (err) {
    if (err instanceof ColmenaError && err.code === "not_found") return "gone";
    throw err;
  }
}

const rowIn = (r: RunningTasks, taskId: string) => r.view!.queries.get(taskId) !== undefined;

/** How often a tasks read model was rebuilt because events it had not applied were purged. */
async function rebuildsAfterPurges(): Promise<number> {
  const m = (await metrics.getSingleMetric("colmena_read_model_rebuilds_total")?.get())?.values ?? [];
  return m.filter((v) => v.labels.model === "tasks" && v.labels.reason === "unapplied events purged").reduce((n, v) => n + v.value, 0);
}

test("tasks retention - finished tasks are forgotten after the retention period, in the stream and in every read model; unfinished ones never", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  const a1 = await fx.start({ instance: "a1", env });
  let a2 = await fx.start({ role: "api", instance: "a2", env });
  const rebuildsBefore = await rebuildsAfterPurges();
  const jsm = await jetstreamManager(fx.nc);

  // A ends at once; D runs for 2 s (its progress and end land after B's submit);
  // B waits 4 s to run, so it holds back everything submitted after it; C ends at once.
  const a = await call(fx.nc, "tasks.submit", { type: "uppercase", input: "a", wait: true, idempotency_key: "k-a" });
  const d = await call(fx.nc, "tasks.submit", { type: "sleep", input: 2 });
  const b = await call(fx.nc, "tasks.submit", { type: "uppercase", input: "b", delay_ms: 4000 });
  const c = await call(fx.nc, "tasks.submit", { type: "uppercase", input: "c", wait: true });
  const cEnded = Date.now();
  assert.equal(a.result, "A");

  await eventually("A forgotten", async () => ((await status(fx.nc, a.task_id)) === "gone" ? true : undefined), 10_000);
  assert.deepEqual(await taskEvents(fx.nc, a.task_id), [], "nothing of A is left in the stream");
  assert.ok(!rowIn(a1, a.task_id) && !rowIn(a2, a.task_id), "both read models forgot A");
  for (const t of [d, b, c]) assert.notEqual(await status(fx.nc, t.task_id), "gone");

  await eventually("D forgotten", async () => ((await status(fx.nc, d.task_id)) === "gone" ? true : undefined), 10_000);
  assert.deepEqual(await taskEvents(fx.nc, d.task_id), [], "D's events after B's submit went too");
  assert.equal(await status(fx.nc, b.task_id), "queued", "B, delayed, is still needed");
  assert.ok(Date.now() - cEnded > 2 * RETENTION_MS, "C is past its retention...");
  assert.equal(await status(fx.nc, c.task_id), "done", "...but kept: B, submitted before it, is not finished");
  assert.ok(rowIn(a1, c.task_id) && rowIn(a2, c.task_id));
  // a2 goes away while the rest is purged, and comes back on its read model file, behind the purge.
  await a2.stop();

  await eventually("B run, then every task forgotten", async () => {
    for (const t of [b, c]) if ((await status(fx.nc, t.task_id)) !== "gone") return undefined;
    return true;
  }, 15_000);
  a2 = await fx.start({ role: "api", instance: "a2", env });
  await eventually("a2 caught up", () => (a2.view!.lastSeq() >= a1.view!.lastSeq() ? true : undefined));
  for (const r of [a1, a2]) assert.deepEqual(r.view!.queries.list("u1", { limit: 10 }), []);
  assert.equal(await rebuildsAfterPurges(), rebuildsBefore, "a model behind a purge resumes: the marker forgets what went");
  await eventually("only the last retention marker left in the stream", async () => {
    const { state } = await jsm.streams.info(TASKS_STREAM);
    return state.messages === 1 ? state : undefined;
  });
  assert.ok(await jsm.streams.getMessage(TASKS_STREAM, { last_by_subj: purgedSubject }));
  const purgedMetric = (await metrics.getSingleMetric("colmena_tasks_retention_purged_messages_total")?.get())?.values ?? [];
  assert.ok(purgedMetric.reduce((n, v) => n + v.value, 0) > 0, "the purges are counted");

  // A replica built from the purged stream agrees with the ones that forgot.
  const a3 = await fx.start({ role: "api", instance: "a3", env });
  await eventually("a3 caught up", () => (a3.view!.lastSeq() >= a1.view!.lastSeq() ? true : undefined));
  assert.deepEqual(a3.view!.queries.list("u1", { limit: 10 }), []);

  // The idempotency key of a forgotten task starts a new one.
  const again = await call(fx.nc, "tasks.submit", { type: "uppercase", input: "a2", wait: true, idempotency_key: "k-a" });
  assert.equal(again.task_id, a.task_id);
  assert.equal(again.result, "A2");
});

test("tasks retention - COLMENA_TASKS_RETENTION_MS=0 keeps every task", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  const a1 = await fx.start({ instance: "a1", env: { COLMENA_TASKS_RETENTION_MS: "0" } });
  const t = await call(fx.nc, "tasks.submit", { type: "uppercase", input: "kept", wait: true });
  await eventually("the scheduler leader elected", () => (a1.isLeader() ? true : undefined));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await status(fx.nc, t.task_id), "done");
  assert.equal((await taskEvents(fx.nc, t.task_id)).length, 2);
});

test("tasks retention - a pass forgets at most COLMENA_TASKS_RETENTION_BATCH tasks, and the next comes soon after", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  await fx.start({ instance: "a1", env: { ...env, COLMENA_TASKS_RETENTION_BATCH: "2" } });
  const jsm = await jetstreamManager(fx.nc);
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) ids.push((await call(fx.nc, "tasks.submit", { type: "uppercase", input: `t${i}`, wait: true })).task_id);
  // Each pass leaves a marker; with 7 tasks and at most 2 per pass, at least 4 passes.
  const markers = new Set<number>();
  await eventually("every task forgotten", async () => {
    const m = await jsm.streams.getMessage(TASKS_STREAM, { last_by_subj: purgedSubject }).catch(() => null);
    if (m) markers.add(m.json<{ before: number }>().before);
    for (const id of ids) if ((await status(fx.nc, id)) !== "gone") return undefined;
    return true;
  }, 20_000);
  assert.ok(markers.size >= 3, `forgotten in several passes (saw ${markers.size} markers)`);
});
