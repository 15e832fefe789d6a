/** @test-exclusive (scripts/run-tests.mjs: runs alone, after the others)
 * A rolling restart of a gateway loses no request (issue 16 item 1,
 * protocol.md section 2): two gateways as their own OS processes, clients
 * that know both under a closed loop of requests (some slow, so requests
 * are in flight when the signal comes), SIGTERM to the one they use. The
 * gateway says `session.closing`, answers what is in flight, refuses the
 * rest as not run, `/readyz` turns 503 at once; the SDK moves to the other
 * gateway, logs in again, and sends what waited.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ColmenaClient, type ColmenaClient as Client } from "@colmena/client";
import { freePort, waitUntil } from "@colmena/testing";
import { startSystem, type System } from "./harness.ts";
import { killAll, spawnService, type ServiceProcess } from "./processes.ts";

let sys: System;
const procs = new Set<ServiceProcess>();
const clients = new Set<Client>();

before(async () => {
  sys = await startSystem({ services: ["auth", "diag"] });
});
after(async () => {
  for (const c of clients) c.close();
  await killAll(procs);
  await sys?.stop();
});

async function gatewayProcess(name: string, drainMs = 10_000): Promise<{ p: ServiceProcess; url: string }> {
  const tcp = await freePort();
  const p = await spawnService({
    name,
    command: ["services/gateway/src/main.ts"],
    env: { ...sys.env, COLMENA_TCP_PORT: String(tcp), COLMENA_HTTP_PORT: String(await freePort()), COLMENA_DRAIN_MS: String(drainMs), COLMENA_LOG_LEVEL: "warn" },
    wait: "healthy",
  });
  procs.add(p);
  return { p, url: `tcp://127.0.0.1:${tcp}` };
}

interface Load {
  ok: number;
  failed: Error[];
  stop(): Promise<void>;
}

/** Each client sends one request after another (an echo, every third one slow) until stopped. */
function closedLoop(list: Client[]): Load {
  let running = true;
  const load: Load = { ok: 0, failed: [], stop: async () => { running = false; await Promise.all(loops); } };
  const loops = list.map(async (c, i) => {
    for (let n = 0; running; n++) {
      try {
        await c.request("diag.echo", { payload: { i, n }, delay_ms: n % 3 === 0 ? 150 : 0 });
        load.ok++;
      } catch (err) {
        load.failed.push(err as Error);
      }
    }
  });
  return load;
}

test("ops - SIGTERM of a gateway under load: session.closing, /readyz 503, in-flight answered, clients move, zero failed requests", { timeout: 60_000 }, async () => {
  const g1 = await gatewayProcess("gateway-1", Number(process.env.OPS_DRAIN_MS ?? 10_000));
  const g2 = await gatewayProcess("gateway-2");
  const list: Client[] = [];
  const closingSeen: string[] = [];
  for (let i = 0; i < 6; i++) {
    const u = await sys.user({ prefix: "drain" });
    u.client.close();
    const c = await ColmenaClient.connect({ url: [g1.url, g2.url], token: u.accessToken, refreshToken: u.refreshToken, requestTimeoutMs: 15_000 });
    c.onStatus((s) => s.type === "closing" && closingSeen.push(s.reason));
    clients.add(c);
    list.push(c);
  }
  const load = closedLoop(list);
  let readyz = -1;
  let code: number | string;
  let drainedMs: number;
  try {
    await waitUntil("some load", () => load.ok > 100);
    const t0 = Date.now();
    g1.p.signal("SIGTERM");
    readyz = await g1.p.status("/readyz");
    code = await g1.p.exited;
    drainedMs = Date.now() - t0;
    const before = load.ok;
    await waitUntil("load on the other gateway", () => load.ok > before + 100);
  } finally {
    await load.stop();
  }
  console.log(`# gateway drain: ${load.ok} requests, ${load.failed.length} failed; SIGTERM to exit ${drainedMs} ms`);
  assert.equal(readyz, 503, "/readyz answers 503 once draining starts");
  assert.deepEqual(load.failed.map((e) => e.message), [], "no request failed");
  assert.equal(code, 0, `gateway-1 exited cleanly\n${g1.p.output()}`);
  assert.equal(closingSeen.length, list.length, "every client was told session.closing");
  for (const c of list) assert.equal(c.url.href, new URL(g2.url).href, "every client moved to gateway-2");
  // The clients are logged in again on the new gateway.
  for (const c of list) assert.ok((await c.whoami()).username.startsWith("drain"));
});
