/**
 * Benchmark 1 (issue 2): the gateway's request/reply path against raw NATS.
 *
 * Processes (2 cores shared by all of them): nats-server; "services" (auth,
 * diag and the gateway, one Node process); "responder" (the raw-NATS echo
 * responder); "load" (every client or requester of a run, one Node process);
 * for the idle-connection figure, two more load processes holding sockets.
 *
 * - closed loop, 1/16/256 clients: `ping` (answered by the gateway itself) and
 *   `diag.echo` (authenticated, through NATS to the diag service) over TCP and
 *   WebSocket, and `bench.echo` straight over NATS from the same load process
 *   (one connection per requester) to the responder process;
 * - open loop: `diag.echo` over WebSocket paced at 1,000 requests/s;
 * - memory: 10,000 idle WebSocket connections, RSS and heap delta of the
 *   services process divided by the connection count.
 */
import { startNats } from "@colmena/testing";
import { spawnChild, type Child } from "./lib/child.ts";
import { cpuPerOp, cpuSnapshot } from "./lib/cpu.ts";
import { FrameClient } from "./lib/frame-client.ts";
import { mergeSummaries, ratio, summarise, type Summary } from "./lib/stats.ts";
import { fmt, times, type BenchContext, type BenchReport, type Benchmark, type Table } from "./lib/report.ts";
import type { RunArgs, RunResult } from "./procs/load.ts";

const PAYLOAD = "colmena benchmark payload, 64 bytes of text to echo back ......";

interface Cell {
  path: string;
  transport: "nats" | "nats-shared" | "tcp" | "ws";
  op: string;
  clients: number;
  summary: Summary;
  firstError?: string;
  /** CPU microseconds per request, by process. */
  cpu: Record<string, number>;
}

interface Plan {
  concurrency: number[];
  warmupMs: number;
  durationMs: number;
  pacedRate: number;
  pacedMs: number;
  pacedWarmupMs: number;
  idleConnections: number;
  idleProcesses: number;
}

const fullPlan: Plan = { concurrency: [1, 16, 256], warmupMs: 1000, durationMs: 3000, pacedRate: 1000, pacedMs: 10_000, pacedWarmupMs: 2000, idleConnections: 10_000, idleProcesses: 2 };
const quickPlan: Plan = { concurrency: [1, 16, 256], warmupMs: 150, durationMs: 400, pacedRate: 1000, pacedMs: 1000, pacedWarmupMs: 200, idleConnections: 400, idleProcesses: 2 };

type Pids = Record<string, number | null>;

async function runOn(load: Child, args: RunArgs, pids: Pids): Promise<{ summary: Summary; firstError?: string; cpu: Record<string, number> }> {
  const before = cpuSnapshot(pids);
  const r = await load.call<RunResult>("run", args);
  const cpu = cpuPerOp(before, cpuSnapshot(pids), r.completed ?? r.latencies.length);
  return { summary: summarise(r.latencies, r.seconds, r.errors), firstError: r.firstError, cpu };
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const plan = ctx.quick ? quickPlan : fullPlan;
  // JetStream is on because auth keeps its users in a stream; nothing here writes to it while measuring.
  await using nats = await startNats({ jetstream: true, bin: ctx.natsBin });
  const children: Child[] = [];
  const spawn = async (file: string, label: string, nodeArgs: string[] = []) => {
    const c = await spawnChild(new URL(file, import.meta.url), { label, env: { BENCH_NATS_URL: nats.url }, nodeArgs });
    children.push(c);
    return c;
  };
  try {
    // Memory first, in a services process of its own: a fresh heap, and no leftovers (10,000 closed sockets) for the latency runs.
    ctx.progress(`memory: ${plan.idleConnections} idle WebSocket connections from ${plan.idleProcesses} processes`);
    const memService = await spawn("./procs/services.ts", "services-memory", ["--expose-gc"]);
    const memory = await idleMemory(memService, `ws://127.0.0.1:${memService.info.http}/ws`, plan, (f, l) => spawn(f, l));
    await memService.stop();

    ctx.progress("starting services (auth, diag, gateway), responder and load processes");
    const services = await spawn("./procs/services.ts", "services");
    const responder = await spawn("./procs/nats-responder.ts", "responder");
    const load = await spawn("./procs/load.ts", "load");
    const pids: Pids = { "nats-server": nats.pid(), services: services.pid, responder: responder.pid, load: load.pid };
    const tcpUrl = `tcp://127.0.0.1:${services.info.tcp}`;
    const wsUrl = `ws://127.0.0.1:${services.info.http}/ws`;
    const token = await accessToken(tcpUrl);

    // The paced runs come before the closed-loop ones, which leave hundreds of closed sockets to collect.
    ctx.progress(`paced: diag.echo over WebSocket at ${plan.pacedRate}/s for ${plan.pacedMs / 1000} s`);
    const pacedTiming = { concurrency: 16, rate: plan.pacedRate, warmupMs: plan.pacedWarmupMs, durationMs: plan.pacedMs };
    const paced = await runOn(load, { url: wsUrl, op: "diag.echo", data: { payload: PAYLOAD }, token, ...pacedTiming }, pids);
    const pacedRaw = await runOn(load, { url: nats.url, op: "bench.echo", data: { payload: PAYLOAD }, ...pacedTiming, warmupMs: 1000, durationMs: plan.pacedMs / 2 }, pids);

    const cells: Cell[] = [];
    const timing = { warmupMs: plan.warmupMs, durationMs: plan.durationMs };
    for (const clients of plan.concurrency) {
      const raw = await runOn(load, { url: nats.url, op: "bench.echo", data: { payload: PAYLOAD }, concurrency: clients, ...timing }, pids);
      cells.push({ path: "raw NATS, a connection per client", transport: "nats", op: "bench.echo", clients, ...raw });
      ctx.progress(`raw NATS x${clients}: ${fmt(raw.summary.rate)} req/s, p50 ${fmt(raw.summary.p50, 3)} ms`);
      if (clients > 1) {
        const shared = await runOn(load, { url: nats.url, op: "bench.echo", data: { payload: PAYLOAD }, concurrency: clients, connections: 1, ...timing }, pids);
        cells.push({ path: "raw NATS, one shared connection", transport: "nats-shared", op: "bench.echo", clients, ...shared });
        ctx.progress(`raw NATS shared x${clients}: ${fmt(shared.summary.rate)} req/s, p50 ${fmt(shared.summary.p50, 3)} ms`);
      }
      for (const [transport, url] of [["tcp", tcpUrl], ["ws", wsUrl]] as const) {
        for (const op of ["ping", "diag.echo"]) {
          const data = op === "ping" ? undefined : { payload: PAYLOAD };
          const r = await runOn(load, { url, op, data, token, concurrency: clients, ...timing }, pids);
          cells.push({ path: `gateway ${transport.toUpperCase()} ${op}`, transport, op, clients, ...r });
          ctx.progress(`${transport} ${op} x${clients}: ${fmt(r.summary.rate)} req/s, p50 ${fmt(r.summary.p50, 3)} ms${r.firstError ? ` (error: ${r.firstError})` : ""}`);
        }
      }
    }

    return report(cells, { paced, pacedRaw, rate: plan.pacedRate }, memory, plan);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

/** Registers a throwaway user and logs in once; every load connection then presents the token. */
async function accessToken(url: string): Promise<string> {
  const c = await FrameClient.open(url);
  try {
    const username = `bench_${process.pid}_${Date.now() % 100_000}`;
    await c.call("auth.register", { username, password: "benchmark-password" });
    const login = (await c.call("auth.login", { username, password: "benchmark-password" })) as { access_token: string };
    return login.access_token;
  } finally {
    c.close();
  }
}

interface Memory {
  connections: number;
  before: { rss: number; heapUsed: number };
  after: { rss: number; heapUsed: number };
  rssPerConn: number;
  heapPerConn: number;
}

async function idleMemory(services: Child, wsUrl: string, plan: Plan, spawn: (f: string, l: string) => Promise<Child>): Promise<Memory> {
  const holders = await Promise.all(Array.from({ length: plan.idleProcesses }, (_, i) => spawn("./procs/load.ts", `idle-holder-${i + 1}`)));
  // A first small round loads and compiles the connection code, so the delta is the connections' own.
  await holders[0].call("openIdle", { url: wsUrl, count: 200 });
  await holders[0].call("closeIdle");
  await new Promise((r) => setTimeout(r, 500));
  const before = await services.call<{ rss: number; heapUsed: number }>("memory");
  const each = Math.ceil(plan.idleConnections / holders.length);
  const opened = await Promise.all(holders.map((h) => h.call<{ open: number }>("openIdle", { url: wsUrl, count: each })));
  const connections = opened.reduce((a, o) => a + o.open, 0);
  await new Promise((r) => setTimeout(r, 1000)); // let the gateway settle its buffers
  const after = await services.call<{ rss: number; heapUsed: number }>("memory");
  await Promise.all(holders.map((h) => h.call("closeIdle")));
  await Promise.all(holders.map((h) => h.stop()));
  return {
    connections,
    before,
    after,
    rssPerConn: (after.rss - before.rss) / connections,
    heapPerConn: (after.heapUsed - before.heapUsed) / connections,
  };
}

function report(cells: Cell[], pacedRuns: { paced: { summary: Summary }; pacedRaw: { summary: Summary }; rate: number }, memory: Memory, plan: Plan): BenchReport {
  const rawOf = (clients: number) => cells.find((c) => c.transport === "nats" && c.clients === clients)!.summary;
  const sharedOf = (clients: number) => (cells.find((c) => c.transport === "nats-shared" && c.clients === clients) ?? cells.find((c) => c.transport === "nats" && c.clients === clients))!.summary;
  const closed: Table = {
    title: `Closed loop: requests/s and latency (ms), ${plan.durationMs / 1000} s per row after ${plan.warmupMs / 1000} s warm-up`,
    columns: ["path", "clients", "req/s", "p50", "p99", "p50 / raw p50", "p50 / shared-conn p50", "req/s / raw", "errors"],
    rows: cells.map((c) => {
      const raw = rawOf(c.clients);
      const shared = sharedOf(c.clients);
      return [c.path, c.clients, c.summary.rate, fmt(c.summary.p50, 3), fmt(c.summary.p99, 3), times(ratio(c.summary.p50, raw.p50)), times(ratio(c.summary.p50, shared.p50)), times(ratio(c.summary.rate, raw.rate)), c.summary.errors];
    }),
  };
  const { paced, pacedRaw, rate } = pacedRuns;
  const pacedTable: Table = {
    title: `Open loop: ${rate} requests/s paced over 16 connections for ${plan.pacedMs / 1000} s (latency from each request's due time, ms)`,
    columns: ["path", "completed", "p50", "p90", "p99", "max", "errors"],
    rows: [
      ["gateway WS diag.echo", paced.summary.count, fmt(paced.summary.p50, 3), fmt(paced.summary.p90, 3), fmt(paced.summary.p99, 3), fmt(paced.summary.max, 3), paced.summary.errors],
      [`raw NATS request (${plan.pacedMs / 2000} s)`, pacedRaw.summary.count, fmt(pacedRaw.summary.p50, 3), fmt(pacedRaw.summary.p90, 3), fmt(pacedRaw.summary.p99, 3), fmt(pacedRaw.summary.max, 3), pacedRaw.summary.errors],
    ],
  };
  const procs = ["nats-server", "services", "responder", "load"];
  const cpuTable: Table = {
    title: "CPU per request (microseconds, whole process, warm-up and connection setup included), by process",
    columns: ["path", "clients", ...procs, "total"],
    rows: cells.map((c) => [c.path, c.clients, ...procs.map((p) => fmt(c.cpu[p], 0)), fmt(procs.reduce((a, p) => a + (c.cpu[p] ?? 0), 0), 0)]),
  };
  const kb = (b: number) => fmt(b / 1024, 1);
  const memTable: Table = {
    title: `Idle WebSocket connections: memory of a fresh gateway process (auth, diag, gateway) after a full GC`,
    columns: ["connections", "RSS before (MiB)", "RSS after (MiB)", "RSS per conn (KiB)", "heap per conn (KiB)"],
    rows: [[memory.connections, fmt(memory.before.rss / 2 ** 20, 1), fmt(memory.after.rss / 2 ** 20, 1), kb(memory.rssPerConn), kb(memory.heapPerConn)]],
  };
  const echo = cells.filter((c) => c.op === "diag.echo");
  const target = (of: (n: number) => Summary, what: string) => {
    const rs = echo.map((c) => ({ c, r: ratio(c.summary.p50, of(c.clients).p50) }));
    const over = rs.filter((x) => !(x.r <= 2));
    return `against ${what}: ${fmt(Math.min(...rs.map((x) => x.r)))}-${fmt(Math.max(...rs.map((x) => x.r)))}x -> ${over.length === 0 ? "met at every row" : `not met at ${over.map((x) => `${x.c.transport.toUpperCase()} x${x.c.clients}`).join(", ")}`}`;
  };
  const notes = [
    `Target "the gateway adds no more than 2x raw NATS's p50" (diag.echo p50 / raw p50), ${target(rawOf, "raw NATS with a connection per client (same sockets as the gateway's clients)")}; ${target(sharedOf, "raw NATS with one shared connection")}.`,
    `Target "WebSocket p99 under 10 ms at a paced 1,000 req/s": p99 ${fmt(paced.summary.p99, 3)} ms -> ${paced.summary.p99 < 10 ? "met" : "not met"}.`,
    `Target "under 20 KB per idle WebSocket connection": ${kb(memory.rssPerConn)} KiB RSS, ${kb(memory.heapPerConn)} KiB heap -> ${memory.rssPerConn < 20_000 ? "met" : "not met"}.`,
    "Where it ran: nats-server, one services process (auth + diag + gateway), one raw-NATS responder process and one load process (every client of a row), all on the same 2 cores; ping is answered by the gateway itself (no NATS hop), diag.echo goes client -> gateway -> NATS -> diag and back, the raw rows are requester -> NATS -> responder and back, with one NATS connection per concurrent requester or all requesters sharing one (as the gateway itself shares one).",
    "Gateway rows run with COLMENA_RATE_LIMIT raised so the per-connection limiter (1,000/s by default) does not cap a closed-loop client.",
  ];
  return { tables: [closed, cpuTable, pacedTable, memTable], notes, data: { plan, cells, paced: pacedRuns, memory } };
}

export const gatewayBenchmark: Benchmark = {
  name: "gateway",
  title: "Gateway request/reply vs raw NATS (issue 2)",
  run,
};
