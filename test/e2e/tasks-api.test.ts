/**
 * The tasks ops of protocol.md section 5 through the real gateway and the
 * real tasks service (API and worker in the runner's process): every op,
 * type, alias and code, every error case, the events, and the original
 * client's frame format of section 9.
 */
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { ColmenaClient, ColmenaError, rawTcp } from "@colmena/client";
import { silentLogger } from "@colmena/runtime";
import { isCode, startSystem, type System, type TestUser } from "./harness.ts";
import { waitUntil } from "@colmena/testing";

let sys: System;
let ana: TestUser;
let bob: TestUser;

before(async () => {
  sys = await startSystem({ services: ["auth", "tasks"], env: { COLMENA_TASKS_BACKOFF_MS: "50" } });
  ana = await sys.user({ prefix: "ana" });
  bob = await sys.user({ prefix: "bob" });
});
after(async () => {
  await sys?.stop();
});


type Submitted = { task_id: string; status: string; result?: unknown; worker?: string; attempts?: number };
const submit = (c: ColmenaClient, data: Record<string, unknown>) => c.request<Submitted>("tasks.submit", data);

/** Collects one event kind on a client. */
function collect(c: ColmenaClient, event: string): { task_id: string; [k: string]: unknown }[] {
  const got: { task_id: string }[] = [];
  c.on(event, (d) => got.push(d as { task_id: string }));
  return got;
}
const until = waitUntil;

describe("tasks - types", () => {
  const cases: [string | number, unknown, unknown][] = [
    ["uppercase", "hola mundo", "HOLA MUNDO"], [1, "abc", "ABC"], ["1", "abc", "ABC"], ["mayus", "ñandú", "ÑANDÚ"], ["upper", "x", "X"],
    ["reverse", "hola", "aloh"], [2, "ab😀", "😀ba"], ["2", "ab", "ba"], ["invertir", "abc", "cba"], ["reversa", "xy", "yx"],
    ["word_count", "uno dos  tres", 3], [3, " a\tb\nc ", 3], ["3", "", 0], ["contar", "x", 1], ["palabras", "a b", 2],
    ["sleep", 0, 0], [4, "0", 0], ["4", 0.1, 0.1], ["espera", "0", 0], ["delay", 0, 0],
  ];
  for (const [type, input, result] of cases) {
    test(`tasks - ${JSON.stringify(type)} with ${JSON.stringify(input)} gives ${JSON.stringify(result)}`, async () => {
      const r = await submit(ana.client, { type, input, wait: true });
      assert.equal(r.status, "done");
      assert.deepEqual(r.result, result);
      assert.match(r.task_id, /^t_[0-9a-f]{32}$/);
      assert.ok(typeof r.worker === "string" && r.worker.length > 0);
      assert.equal(r.attempts, 1);
    });
  }
});

describe("tasks - ops", () => {
  test("tasks - submit without wait answers queued; get shows the record; the result follows", async () => {
    const r = await submit(ana.client, { type: "word_count", input: "a b c" });
    assert.deepEqual(Object.keys(r).sort(), ["status", "task_id"]);
    assert.ok(["queued", "running", "done"].includes(r.status));
    let rec: Record<string, unknown> = {};
    await until("done", () => rec.status === "done", 10_000).catch(() => {});
    for (let i = 0; i < 200 && rec.status !== "done"; i++) {
      rec = await ana.client.request("tasks.get", { task_id: r.task_id });
      if (rec.status !== "done") await new Promise((res) => setTimeout(res, 25));
    }
    assert.equal(rec.status, "done");
    assert.equal(rec.task_id, r.task_id);
    assert.equal(rec.type, "word_count");
    assert.equal(rec.input, "a b c");
    assert.equal(rec.result, 3);
    assert.equal(rec.attempts, 1);
    assert.equal(typeof rec.worker, "string");
    assert.ok(typeof rec.created_at === "number" && typeof rec.updated_at === "number" && (rec.updated_at as number) >= (rec.created_at as number));
  });

  test("tasks - get right after submit sees the task (read-your-writes)", async () => {
    for (let i = 0; i < 20; i++) {
      const r = await submit(ana.client, { type: "upper", input: `x${i}`, delay_ms: 60_000 });
      const rec = await ana.client.request<{ status: string }>("tasks.get", { task_id: r.task_id });
      assert.equal(rec.status, "queued");
      await ana.client.request("tasks.cancel", { task_id: r.task_id });
    }
  });

  test("tasks - list is newest first, filters by status and pages with before/next", async () => {
    const u = await sys.user({ prefix: "lister" });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit(u.client, { type: "upper", input: `p${i}`, wait: true })).task_id);
    const cancelled = (await submit(u.client, { type: "upper", input: "c", delay_ms: 60_000 })).task_id;
    await u.client.request("tasks.cancel", { task_id: cancelled });
    const all = await u.client.request<{ tasks: { task_id: string }[]; next?: number }>("tasks.list", {});
    assert.deepEqual(all.tasks.map((t) => t.task_id), [cancelled, ...ids.reverse()]);
    assert.equal(all.next, undefined);
    const done = await u.client.request<{ tasks: { status: string }[] }>("tasks.list", { status: "done" });
    assert.equal(done.tasks.length, 5);
    assert.ok(done.tasks.every((t) => t.status === "done"));
    const page1 = await u.client.request<{ tasks: { task_id: string }[]; next?: number }>("tasks.list", { limit: 4 });
    assert.equal(page1.tasks.length, 4);
    assert.ok(page1.next);
    const page2 = await u.client.request<{ tasks: { task_id: string }[]; next?: number }>("tasks.list", { limit: 4, before: page1.next });
    assert.deepEqual([...page1.tasks, ...page2.tasks].map((t) => t.task_id), all.tasks.map((t) => t.task_id));
    assert.equal(page2.next, undefined);
    const empty = await u.client.request<{ tasks: unknown[] }>("tasks.list", { status: "running" });
    assert.deepEqual(empty.tasks, []);
  });

  test("tasks - cancel: a queued task is cancelled and never runs; a finished one stays as it is", async () => {
    const q = await submit(ana.client, { type: "upper", input: "never", delay_ms: 500 });
    assert.deepEqual(await ana.client.request("tasks.cancel", { task_id: q.task_id }), { task_id: q.task_id, status: "cancelled" });
    await new Promise((r) => setTimeout(r, 800));
    const rec = await ana.client.request<{ status: string; result?: unknown }>("tasks.get", { task_id: q.task_id });
    assert.equal(rec.status, "cancelled");
    assert.equal(rec.result, undefined);
    const d = await submit(ana.client, { type: "upper", input: "x", wait: true });
    assert.deepEqual(await ana.client.request("tasks.cancel", { task_id: d.task_id }), { task_id: d.task_id, status: "done" });
  });

  test("tasks - cancel: a running task is asked to stop and ends cancelled", async () => {
    const r = await submit(ana.client, { type: "sleep", input: 20 });
    let status = "";
    for (let i = 0; i < 200 && status !== "running"; i++) {
      status = (await ana.client.request<{ status: string }>("tasks.get", { task_id: r.task_id })).status;
      if (status !== "running") await new Promise((res) => setTimeout(res, 25));
    }
    assert.equal(status, "running");
    assert.equal((await ana.client.request<{ status: string }>("tasks.cancel", { task_id: r.task_id })).status, "cancelled");
    assert.equal((await ana.client.request<{ status: string }>("tasks.get", { task_id: r.task_id })).status, "cancelled");
  });

  test("tasks - the same idempotency key returns the first task; another user's key is theirs", async () => {
    const a1 = await submit(ana.client, { type: "upper", input: "first", idempotency_key: "order-42", wait: true });
    const a2 = await submit(ana.client, { type: "upper", input: "second", idempotency_key: "order-42", wait: true });
    assert.equal(a2.task_id, a1.task_id);
    assert.equal(a2.result, "FIRST");
    const b1 = await submit(bob.client, { type: "upper", input: "bob", idempotency_key: "order-42", wait: true });
    assert.notEqual(b1.task_id, a1.task_id);
    assert.equal(b1.result, "BOB");
  });

  test("tasks - priorities and max_attempts are accepted and shown", async () => {
    for (const priority of ["high", "normal", "low"]) {
      const r = await submit(ana.client, { type: "upper", input: "p", priority, max_attempts: 5, wait: true });
      const rec = await ana.client.request<{ priority: string; max_attempts: number }>("tasks.get", { task_id: r.task_id });
      assert.equal(rec.priority, priority);
      assert.equal(rec.max_attempts, 5);
    }
  });

  test("tasks - a delayed task waits for its time", async () => {
    const t0 = Date.now();
    const r = await submit(ana.client, { type: "upper", input: "tarde", delay_ms: 400, wait: true });
    assert.equal(r.result, "TARDE");
    assert.ok(Date.now() - t0 >= 400);
  });
});

describe("tasks - errors", () => {
  test("tasks - every op needs a login", async () => {
    const anon = await sys.client();
    for (const [op, data] of [["tasks.submit", { type: "upper", input: "x" }], ["tasks.get", { task_id: "t_0" }], ["tasks.list", {}], ["tasks.cancel", { task_id: "t_0" }]] as const) {
      await assert.rejects(anon.request(op, data), isCode("unauthorized"), op);
    }
  });

  test("tasks - bad type or input is bad_request at once, never a task", async () => {
    const before = (await ana.client.request<{ tasks: unknown[] }>("tasks.list", { limit: 200 })).tasks.length;
    const bad: Record<string, unknown>[] = [
      { type: "nope", input: "x" }, { type: 0, input: "x" }, { type: 5, input: "x" }, { type: "", input: "x" }, { type: 1.5, input: "x" },
      { type: "upper", input: 42 }, { type: "reverse", input: { a: 1 } }, { type: "upper" }, { input: "x" },
      { type: "upper", input: "x".repeat(256 * 1024 + 1) },
      { type: "sleep", input: 61 }, { type: "sleep", input: -1 }, { type: "sleep", input: "abc" }, { type: "espera", input: "" },
      { type: "upper", input: "x", priority: "urgent" }, { type: "upper", input: "x", max_attempts: 0 }, { type: "upper", input: "x", timeout_ms: -5 },
      { type: "upper", input: "x", delay_ms: -1 }, { type: "upper", input: "x", wait: "yes" }, { type: "upper", input: "x", idempotency_key: "" },
      { type: "upper", input: "x", extra: true },
    ];
    for (const data of bad) await assert.rejects(submit(ana.client, data), isCode("bad_request"), JSON.stringify(data).slice(0, 80));
    const after = (await ana.client.request<{ tasks: unknown[] }>("tasks.list", { limit: 200 })).tasks.length;
    assert.equal(after, before, "nothing was stored");
    await assert.rejects(ana.client.request("tasks.get", {}), isCode("bad_request"));
    await assert.rejects(ana.client.request("tasks.list", { status: "sleeping" }), isCode("bad_request"));
    await assert.rejects(ana.client.request("tasks.list", { limit: 0 }), isCode("bad_request"));
    await assert.rejects(ana.client.request("tasks.list", { limit: 201 }), isCode("bad_request"));
    await assert.rejects(ana.client.request("tasks.cancel", { task_id: "t_1", force: true }), isCode("bad_request"));
  });

  test("tasks - another user's task, or no task, is not_found", async () => {
    const r = await submit(ana.client, { type: "upper", input: "mine", wait: true });
    await assert.rejects(bob.client.request("tasks.get", { task_id: r.task_id }), isCode("not_found"));
    await assert.rejects(bob.client.request("tasks.cancel", { task_id: r.task_id }), isCode("not_found"));
    const bobs = await bob.client.request<{ tasks: { task_id: string }[] }>("tasks.list", {});
    assert.ok(!bobs.tasks.some((t) => t.task_id === r.task_id));
    await assert.rejects(ana.client.request("tasks.get", { task_id: "t_00000000000000000000000000000000" }), isCode("not_found"));
    await assert.rejects(ana.client.request("tasks.cancel", { task_id: "no-such-task" }), isCode("not_found"));
  });

  test("tasks - wait past timeout_ms is timeout; the task goes on and its event still comes", async () => {
    const done = collect(ana.client, "task.done");
    const err = await submit(ana.client, { type: "sleep", input: 1, wait: true, timeout_ms: 200 }).catch((e) => e);
    assert.ok(isCode("timeout")(err));
    const taskId = (err as ColmenaError).details as { task_id: string };
    await until("task.done", () => done.some((d) => d.task_id === taskId.task_id), 10_000);
    const rec = await ana.client.request<{ status: string; result: unknown }>("tasks.get", { task_id: taskId.task_id });
    assert.deepEqual([rec.status, rec.result], ["done", 1]);
  });
});

describe("tasks - events", () => {
  test("tasks - task.done and task.progress reach the submitter's connections, and no one else's", async () => {
    const other = await sys.client();
    await other.authenticate(ana.accessToken);
    const done = collect(other, "task.done");
    const progress = collect(other, "task.progress");
    const bobDone = collect(bob.client, "task.done");
    const r = await submit(ana.client, { type: "sleep", input: 2.2, wait: true });
    await until("task.done on the other connection", () => done.some((d) => d.task_id === r.task_id));
    const mine = progress.filter((p) => p.task_id === r.task_id).map((p) => p.progress as number);
    assert.ok(mine.length >= 2, `progress each second: ${mine.join(", ")}`);
    assert.ok(mine.every((p, i) => p > 0 && p <= 1 && (i === 0 || p > mine[i - 1])));
    const { seq, ...ended } = done.find((d) => d.task_id === r.task_id)!;
    assert.deepEqual(ended, { task_id: r.task_id, result: 2.2, worker: r.worker });
    assert.ok(typeof seq === "number" && seq > Math.max(...progress.filter((p) => p.task_id === r.task_id).map((p) => p.seq as number)), "done's seq follows its progress");
    assert.equal(bobDone.filter((d) => d.task_id === r.task_id).length, 0);
  });

  test("tasks - events follow the submitter to another gateway", async () => {
    const { startGateway } = await import("@colmena/gateway");
    const gw2 = await startGateway({ nc: sys.nc, log: silentLogger(), env: { ...sys.env, COLMENA_TCP_PORT: "0", COLMENA_HTTP_PORT: "0", COLMENA_TLS_PORT: "0" } });
    try {
      const u = await sys.user({ prefix: "mover" });
      const r = await submit(u.client, { type: "sleep", input: 1 });
      u.client.close();
      const moved = await ColmenaClient.connect({ url: `tcp://127.0.0.1:${gw2.ports.tcp}` });
      try {
        const done = collect(moved, "task.done");
        await moved.authenticate(u.accessToken);
        await until("task.done on the second gateway", () => done.some((d) => d.task_id === r.task_id));
      } finally {
        moved.close();
      }
    } finally {
      await gw2.stop();
    }
  });
});

describe("tasks - the original client's frames", () => {
  test("legacy - tipo/contenido answered with estado/resultado/tarea_id/worker, anonymously when allowed", async () => {
    await using raw = await rawTcp(sys.gateway.tcpUrl);
    raw.write(JSON.stringify({ tipo: "mayus", contenido: "hola mundo", tarea_id: "abc-1" }) + "\n");
    const r = await raw.json(10_000);
    assert.equal(r.estado, "ok");
    assert.equal(r.resultado, "HOLA MUNDO");
    assert.equal(r.tarea_id, "abc-1");
    assert.equal(typeof r.worker, "string");
    for (const [tipo, contenido, resultado] of [[2, "abc", "cba"], ["3", "a b", 2], ["contar", "x y z", 3], ["espera", "0", 0], [1, "x", "X"]] as const) {
      raw.write(JSON.stringify({ tipo, contenido }) + "\n");
      const x = await raw.json(10_000);
      assert.deepEqual([x.estado, x.resultado], ["ok", resultado], `${tipo}`);
      assert.match(x.tarea_id, /^t_/);
    }
    raw.write(JSON.stringify({ tipo: "nope", contenido: "x" }) + "\n");
    const e = await raw.json(10_000);
    assert.equal(e.estado, "error");
    assert.match(e.mensaje, /unknown task type/);
    raw.write(JSON.stringify({ tipo: "espera", contenido: "99" }) + "\n");
    assert.equal((await raw.json(10_000)).estado, "error");
  });

  test("legacy - the same tarea_id is the same task", async () => {
    await using raw = await rawTcp(sys.gateway.tcpUrl);
    const id = `dup-${Date.now()}`;
    raw.write(JSON.stringify({ tipo: "upper", contenido: "uno", tarea_id: id }) + "\n");
    const a = await raw.json(10_000);
    raw.write(JSON.stringify({ tipo: "upper", contenido: "dos", tarea_id: id }) + "\n");
    const b = await raw.json(10_000);
    assert.deepEqual([a.resultado, b.resultado, b.tarea_id], ["UNO", "UNO", id]);
  });

  test("legacy - each anonymous connection is its own principal: the same tarea_id on another connection is another task", async () => {
    await using first = await rawTcp(sys.gateway.tcpUrl);
    await using second = await rawTcp(sys.gateway.tcpUrl);
    const id = `secret-${Date.now()}`;
    first.write(JSON.stringify({ tipo: "upper", contenido: "my secret", tarea_id: id }) + "\n");
    assert.equal((await first.json(10_000)).resultado, "MY SECRET");
    second.write(JSON.stringify({ tipo: "upper", contenido: "other", tarea_id: id }) + "\n");
    const b = await second.json(10_000);
    assert.deepEqual([b.estado, b.resultado, b.tarea_id], ["ok", "OTHER", id], "never the first client's result");
  });
});

test("legacy - without COLMENA_LEGACY_ANONYMOUS a legacy frame needs a login first", async () => {
  await using strict = await startSystem({ services: ["auth", "tasks"], env: { COLMENA_LEGACY_ANONYMOUS: "false" } });
  const u = await strict.user({ prefix: "leg" });
  await using raw = await rawTcp(strict.gateway.tcpUrl);
  raw.write(JSON.stringify({ tipo: "mayus", contenido: "hola" }) + "\n");
  const refused = await raw.json(10_000);
  assert.equal(refused.estado, "error");
  assert.match(refused.mensaje, /login/);
  raw.write(JSON.stringify({ id: 1, op: "auth.token", data: { access_token: u.accessToken } }) + "\n");
  assert.equal((await raw.json(10_000)).ok, true);
  raw.write(JSON.stringify({ tipo: "mayus", contenido: "hola" }) + "\n");
  // A logged-in connection also gets the task's events (task.done may come first); the answer is the line with `estado`.
  let ok = await raw.json(10_000);
  while (!("estado" in ok)) ok = await raw.json(10_000);
  assert.deepEqual([ok.estado, ok.resultado], ["ok", "HOLA"]);
  const mine = await u.client.request<{ tasks: { input: string }[] }>("tasks.list", {});
  assert.equal(mine.tasks[0]?.input, "hola", "the task belongs to the logged-in user");
});
