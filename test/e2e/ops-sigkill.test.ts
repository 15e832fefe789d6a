/** @test-exclusive (scripts/run-tests.mjs: runs alone, after the others)
 * SIGKILL costs seconds, not half a minute (issue 16 item 2, the request
 * side): tasks API replicas as their own OS processes, `wait: true` submits
 * in flight on both, one replica SIGKILLed. Its requests stop getting the
 * service's `Colmena-Working` keepalives, so the gateway answers them
 * `unavailable` within REPLICA_LOST_MS (plus a sweep); the other replica's
 * requests complete. Without keepalives they waited `timeout_ms` + 2 s.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ColmenaError, REPLICA_LOST_MS } from "@colmena/protocol";
import { uniqueName } from "@colmena/testing";
import { startSystem, type System, type TestUser } from "./harness.ts";
import { killAll, spawnService, type ServiceProcess } from "./processes.ts";

let sys: System;
const procs = new Set<ServiceProcess>();

before(async () => {
  sys = await startSystem({ services: ["auth"] });
});
after(async () => {
  await killAll(procs);
  await sys?.stop();
});

async function tasksProcess(role: "api" | "worker"): Promise<ServiceProcess> {
  const name = uniqueName(`tasks-${role}-`);
  const p = await spawnService({ name, command: ["services/tasks/src/main.ts", "--role", role], env: { ...sys.env, COLMENA_INSTANCE: name, COLMENA_LOG_LEVEL: "warn" }, timeoutMs: 60_000 });
  procs.add(p);
  return p;
}

test("ops - SIGKILL of a tasks API replica: its wait:true submits are answered unavailable within 5 s, the other replica's complete", { timeout: 120_000 }, async () => {
  const [api1] = await Promise.all([tasksProcess("api"), tasksProcess("api"), tasksProcess("worker")]);
  const users: TestUser[] = [];
  for (let i = 0; i < 4; i++) users.push(await sys.user({ prefix: "kill" }));
  // Many submits, so the queue group gives some to each replica; each task sleeps 4 s.
  let killedAt = 0;
  const outcomes = await Promise.all(
    Array.from({ length: 16 }, async (_, n) => {
      const c = users[n % users.length].client;
      try {
        const r = await c.request<{ status: string }>("tasks.submit", { type: "sleep", input: 4, wait: true, timeout_ms: 30_000 }, { timeoutMs: 40_000 });
        return { ok: r.status, afterKillMs: Date.now() - killedAt };
      } catch (err) {
        return { error: ColmenaError.is(err) ? err.code : String(err), afterKillMs: Date.now() - killedAt };
      }
    }).map(async (p, n) => {
      if (n === 0) {
        await new Promise((r) => setTimeout(r, 1500));
        killedAt = Date.now();
        api1.signal("SIGKILL");
      }
      return p;
    }),
  );
  const lost = outcomes.filter((o) => "error" in o);
  const worst = Math.max(...lost.map((o) => o.afterKillMs));
  console.log(`# sigkill: ${lost.length} of ${outcomes.length} in flight on the killed replica, answered ${lost.map((o) => o.afterKillMs).join(", ")} ms after the kill`);
  assert.ok(lost.length > 0, "some submits were on the killed replica");
  for (const o of lost) assert.equal(o.error, "unavailable", "a request lost with its replica is unavailable");
  assert.ok(worst < 5_000, `answered within 5 s of the kill (worst ${worst} ms, window ${REPLICA_LOST_MS} ms)`);
  for (const o of outcomes.filter((o) => "ok" in o)) assert.equal(o.ok, "done");
});
