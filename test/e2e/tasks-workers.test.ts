/**
 * Tasks under failure and load, through the real gateway: a worker process
 * SIGKILLed mid-task, and two API replicas with two workers under 1,000
 * concurrent submits from 10 clients.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { Headers, pushSubject, userChannel } from "@colmena/protocol";
import type { ColmenaClient } from "@colmena/client";
import { publishEvent, repoRoot, silentLogger } from "@colmena/runtime";
import { TASKS_STREAM, startTasks, taskSubject, toRecord, workConsumer, type RunningTasks, type TaskEvent, type WorkItem } from "@colmena/tasks";
import { startSystem, type System } from "./harness.ts";

const FAST = { COLMENA_TASKS_ACK_WAIT_MS: "2000", COLMENA_TASKS_BACKOFF_MS: "50", COLMENA_TASKS_LEADER_TTL_MS: "1500" };

/** Every event of one task, in stream order. */
async function kindsOf(nc: NatsConnection, taskId: string): Promise<string[]> {
  const oc = await jetstream(nc).consumers.get(TASKS_STREAM, { filter_subjects: [taskSubject(taskId), `tasks.ev.run.*.${taskId}`] });
  const n = (await oc.info()).num_pending;
  const out: string[] = [];
  if (n > 0) {
    for await (const m of await oc.fetch({ max_messages: n, expires: 5000 })) {
      out.push(m.json<TaskEvent>().kind);
      if (out.length >= n) break;
    }
  }
  await oc.delete().catch(() => undefined);
  return out;
}

/** Starts a tasks instance in this process on its own NATS connection. */
async function instance(sys: System, role: "api" | "worker", name: string, stack: { t: RunningTasks; nc: NatsConnection }[]) {
  const nc = await connect({ servers: sys.nats.url });
  const t = await startTasks({ nc, log: silentLogger(), role, env: { ...sys.env, ...FAST, COLMENA_INSTANCE: name, COLMENA_WORKER_ID: `worker-${name}` } });
  stack.push({ t, nc });
  return t;
}
async function stopAll(stack: { t: RunningTasks; nc: NatsConnection }[]) {
  for (const { t, nc } of stack.reverse()) {
    await t.stop().catch(() => undefined);
    await nc.close().catch(() => undefined);
  }
}

function countEvents(c: ColmenaClient, event: string): Map<string, number> {
  const seen = new Map<string, number>();
  c.on(event, (d) => {
    const id = (d as { task_id: string }).task_id;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  });
  return seen;
}

test("tasks - a worker process SIGKILLed mid-task: another worker completes it, one done is recorded, the client hears once", async () => {
  await using sys = await startSystem({ services: ["auth"], env: FAST });
  const stack: { t: RunningTasks; nc: NatsConnection }[] = [];
  const child = spawn(process.execPath, ["--import", "tsx", join("services", "tasks", "src", "main.ts"), "--role", "worker"], {
    cwd: repoRoot(),
    env: { ...sys.env, ...FAST, COLMENA_WORKER_ID: "worker-doomed", COLMENA_LOG_LEVEL: "silent" },
    stdio: "ignore",
  });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once("exit", (_code, sig) => r(sig)));
  try {
    await instance(sys, "api", "api1", stack);
    const { client } = await sys.user({ prefix: "kill" });
    const done = countEvents(client, "task.done");
    const result = client.request<{ task_id: string; status: string; worker: string; attempts: number; result: unknown }>(
      "tasks.submit", { type: "sleep", input: 2, wait: true, timeout_ms: 60_000 }, { timeoutMs: 70_000 });
    // The task is running on the worker process.
    let taskId = "";
    for (let i = 0; i < 600 && !taskId; i++) {
      const list = await client.request<{ tasks: { task_id: string; status: string; worker?: string }[] }>("tasks.list", {});
      const t = list.tasks[0];
      if (t?.status === "running" && t.worker === "worker-doomed") taskId = t.task_id;
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(taskId, "the worker process took the task");
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");
    await instance(sys, "worker", "rescuer", stack);

    const r = await result;
    assert.equal(r.task_id, taskId);
    assert.equal(r.status, "done");
    assert.equal(r.result, 2);
    assert.equal(r.worker, "worker-rescuer");
    assert.equal(r.attempts, 2);
    const kinds = await kindsOf(sys.nc, taskId);
    assert.equal(kinds.filter((k) => k === "done").length, 1, kinds.join(","));
    assert.equal(kinds.filter((k) => k === "started").length, 2, kinds.join(","));
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(done.get(taskId), 1, "task.done came once");
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await stopAll(stack);
  }
});

test("tasks - a worker that dies between recording done and acking: the next worker announces done again with the same seq, and the SDK passes it on once", async () => {
  await using sys = await startSystem({ services: ["auth"], env: FAST });
  const stack: { t: RunningTasks; nc: NatsConnection }[] = [];
  try {
    await instance(sys, "api", "api1", stack);
    // A worker that comes and goes makes the work consumers.
    const setup = await instance(sys, "worker", "setup", stack);
    await setup.stop();
    const { client, userId } = await sys.user({ prefix: "repeat" });
    const heard = countEvents(client, "task.done");
    // What the gateways get for the user: the repeat itself, before the SDK drops it.
    const pushed: { task_id: string; seq: number }[] = [];
    const sub = sys.nc.subscribe(pushSubject(userChannel(userId)), { callback: (_e, m) => { if (m.headers?.get(Headers.event) === "task.done") pushed.push(m.json()); } });
    const { task_id: taskId } = await client.request<{ task_id: string }>("tasks.submit", { type: "upper", input: "once" });

    // The doomed worker (this test): takes the run message, records done and announces it as a
    // worker does, then dies without acking; its id was never live in the workers bucket.
    const js = jetstream(sys.nc);
    const consumer = await js.consumers.get(TASKS_STREAM, workConsumer("normal"));
    const m = await consumer.next({ expires: 5000 });
    assert.ok(m, "the run message");
    const item = m.json<WorkItem>();
    assert.equal(item.task_id, taskId);
    const h = headers();
    h.set("Nats-Expected-Last-Subject-Sequence", "0");
    const done: TaskEvent = { kind: "done", task_id: taskId, attempt: 1, result: "ONCE", worker: "worker-doomed", ts: Date.now() };
    const ack = await js.publish(taskSubject(taskId), JSON.stringify(done), { headers: h });
    publishEvent(sys.nc, { users: [userId] }, "task.done", { task_id: taskId, result: "ONCE", worker: "worker-doomed", seq: ack.seq });

    // After ack_wait the run message goes to a live worker, which finds the done of a dead one and announces it again.
    await instance(sys, "worker", "rescuer", stack);
    const deadline = Date.now() + 15_000;
    while (pushed.filter((p) => p.task_id === taskId).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    sub.unsubscribe();
    assert.deepEqual(pushed.filter((p) => p.task_id === taskId).map((p) => p.seq), [ack.seq, ack.seq], "announced twice, with the outcome's seq");
    assert.equal(heard.get(taskId), 1, "the SDK dropped the repeat");
    assert.deepEqual(await kindsOf(sys.nc, taskId), ["submitted", "done"]);
  } finally {
    await stopAll(stack);
  }
});

test("tasks - two API replicas and two workers: 1,000 concurrent submits from 10 clients all complete, each reported once, the replicas agree", async (t) => {
  await using sys = await startSystem({ services: ["auth"], env: FAST });
  const stack: { t: RunningTasks; nc: NatsConnection }[] = [];
  try {
    const api1 = await instance(sys, "api", "api1", stack);
    const api2 = await instance(sys, "api", "api2", stack);
    const w1 = await instance(sys, "worker", "w1", stack);
    const w2 = await instance(sys, "worker", "w2", stack);
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => sys.user({ prefix: `load${i}` })));
    const events = users.map((u) => countEvents(u.client, "task.done"));
    const started = Date.now();
    const results = await Promise.all(
      users.flatMap((u, i) =>
        Array.from({ length: 100 }, (_, j) =>
          u.client.request<{ task_id: string; status: string; result: string; worker: string }>(
            "tasks.submit", { type: j % 2 ? "upper" : "reverse", input: `c${i}-t${j}`, wait: true, timeout_ms: 120_000 }, { timeoutMs: 130_000 }),
        ),
      ),
    );
    const ms = Date.now() - started;
    t.diagnostic(`1,000 tasks through the gateway (2 API replicas, 2 workers, wait: true) in ${ms} ms: ${Math.round(1000 / (ms / 1000))} tasks/s`);
    assert.equal(results.length, 1000);
    assert.equal(new Set(results.map((r) => r.task_id)).size, 1000);
    results.forEach((r, k) => {
      const i = Math.floor(k / 100);
      const j = k % 100;
      assert.equal(r.status, "done");
      assert.equal(r.result, j % 2 ? `C${i}-T${j}` : [...`c${i}-t${j}`].reverse().join(""));
    });
    const byWorker = new Map<string, number>();
    for (const r of results) byWorker.set(r.worker, (byWorker.get(r.worker) ?? 0) + 1);
    t.diagnostic(`tasks per worker: ${JSON.stringify(Object.fromEntries(byWorker))}`);
    assert.deepEqual([...byWorker.keys()].sort(), [w1.workerId, w2.workerId].sort());

    // Every task reported once to its submitter (events may trail the replies a little).
    const deadline = Date.now() + 10_000;
    const total = () => events.reduce((n, e) => n + e.size, 0);
    while (total() < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    users.forEach((_, i) => {
      const mine = results.slice(i * 100, i * 100 + 100);
      assert.equal(events[i].size, 100, `client ${i} heard ${events[i].size} tasks`);
      for (const r of mine) assert.equal(events[i].get(r.task_id), 1, `task ${r.task_id} reported ${events[i].get(r.task_id)} times`);
    });

    // Both replicas hold the same records.
    const last = Math.max(api1.view!.lastSeq(), api2.view!.lastSeq());
    while ((api1.view!.lastSeq() < last || api2.view!.lastSeq() < last) && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 50));
    for (const u of users) {
      const a = api1.view!.queries.list(u.userId, { limit: 200 }).map(toRecord);
      const b = api2.view!.queries.list(u.userId, { limit: 200 }).map(toRecord);
      assert.equal(a.length, 100);
      assert.deepEqual(a, b);
      const viaGateway = await u.client.request<{ tasks: unknown[] }>("tasks.list", { limit: 200 });
      assert.deepEqual(viaGateway.tasks, a);
    }
  } finally {
    await stopAll(stack);
  }
});
