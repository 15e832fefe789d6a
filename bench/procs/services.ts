/**
 * The services-under-test process: auth, diag (or, with `BENCH_TASKS_API=1`,
 * the tasks API instead; with `BENCH_CHAT=1`, the chat service; with `BENCH_NOTIFY=1`, notify too) and a gateway on one NATS connection each, as the
 * local runner would run them. Tasks workers run in their own processes
 * (bench/procs/worker.ts), or with `BENCH_TASKS_ROLE=all` here, beside the
 * API on its connection, as `npm start` runs them. Reports the gateway's ports when ready and
 * its own memory on request (the gateway lives here, so this is the process
 * the idle-connection figure measures).
 *
 * `BENCH_ROLE=gateway` runs the gateway alone, `BENCH_ROLE=services` everything
 * but the gateway: two processes, as compose and Kubernetes run them (the
 * chat benchmark's split layout).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats, silentLogger } from "@colmena/runtime";
import { startAuth } from "@colmena/auth";
import { startDiag } from "@colmena/diag";
import { startGateway } from "@colmena/gateway";
import { startNotify } from "@colmena/notify";
import { startTasks } from "@colmena/tasks";
import { startChat } from "@colmena/chat";
import { serveParent, memoryNow } from "../lib/child.ts";

const url = process.env.BENCH_NATS_URL!;
const log = silentLogger();
const conns: NatsConnection[] = [];
const nats = async (name: string) => {
  // The same connection options the services' own main.ts files use.
  const nc = await connectNats({ servers: url, name, log });
  conns.push(nc);
  return nc;
};

const role = process.env.BENCH_ROLE ?? "all";
const stops: (() => Promise<unknown>)[] = [];
if (role !== "gateway") await startServices();
const gateway = role === "services" ? undefined : await startGateway({
  nc: await nats("bench-gateway"),
  log,
  env: process.env,
  // The default per-connection rate limit (1,000/s) would cap a closed-loop client; the benchmark measures the path, not the limiter.
  overrides: { host: "127.0.0.1", tcpPort: 0, httpPort: 0, rateLimit: 1_000_000_000, idleTimeoutMs: 3_600_000, maxConnections: 100_000, maxConnectionsPerIp: 100_000 },
});
if (gateway) stops.unshift(() => gateway.stop());

async function startServices(): Promise<void> {
  const auth = await startAuth({ nc: await nats("bench-auth"), log, env: process.env });
  stops.push(() => auth.stop());
  if (process.env.BENCH_TASKS_API) {
    const tasks = await startTasks({ nc: await nats("bench-tasks-api"), log, env: process.env, role: process.env.BENCH_TASKS_ROLE === "all" ? "all" : "api" });
    stops.unshift(() => tasks.stop());
  } else if (process.env.BENCH_CHAT) {
    const chat = await startChat({ nc: await nats("bench-chat"), log, env: process.env });
    stops.unshift(() => chat.stop());
  } else {
    const diag = await startDiag({ nc: await nats("bench-diag"), log });
    stops.push(() => diag.stop());
  }
  if (process.env.BENCH_NOTIFY) {
    const notify = await startNotify({ nc: await nats("bench-notify"), log, env: process.env });
    stops.unshift(() => notify.stop());
  }
}

serveParent({ tcp: gateway?.ports.tcp, http: gateway?.ports.http, pid: process.pid }, {
  memory: () => memoryNow(),
  stop: async () => {
    for (const s of stops) await s().catch(() => undefined);
    await Promise.all(conns.map((c) => c.close()));
  },
});
