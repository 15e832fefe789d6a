/**
 * Benchmark 2 (issue 3): the same workload on Colmena's tasks service and on
 * its peers, in one run: 16 concurrent clients submit N `uppercase` tasks
 * between them, each waiting for its task's result before submitting the next.
 *
 * - Colmena: client -> gateway -> tasks API -> JetStream (file storage) ->
 *   worker -> result, with `wait: true`; the worker in the services process
 *   (role `all`, as `npm start` runs it), or 1 or 2 worker processes.
 * - BullMQ on a local redis-server: Queue.add + job.waitUntilFinished.
 * - Celery on the same redis-server: task.delay().get().
 *
 * At two durability levels: NATS `sync_interval` lazy (the server default)
 * against Redis's default persistence (RDB snapshots, no AOF), and NATS
 * `sync_interval: always` against Redis `appendonly yes` + `appendfsync always`.
 *
 * In rounds (default 3, `BENCH_TASKS_ROUNDS`), each measuring every row once,
 * so the systems interleave and share whatever else the machine does; the
 * tables give each row's median and range, and each ratio's median over the
 * rounds' own ratios (single runs on this VM move by 5-15%).
 */
import { spawn as spawnProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats } from "@colmena/testing";
import { spawnChild, type Child } from "./lib/child.ts";
import { cpuPerOp, cpuSnapshot } from "./lib/cpu.ts";
import { FrameClient } from "./lib/frame-client.ts";
import { ensureDebianPackages, startRedis, type Redis, type RedisDurability } from "./lib/redis.ts";
import { fmt, times, type BenchContext, type BenchReport, type Benchmark, type Table } from "./lib/report.ts";
import { median, ratio, summarise, type Summary } from "./lib/stats.ts";
import { CELERY_PACKAGES, runCeleryClients, startCeleryWorker } from "./peers/celery.ts";
import type { RunArgs, RunResult } from "./procs/load.ts";

const INPUT = "colmena benchmark: hola mundo, make me uppercase please";
const CLIENTS = 16;
/** Celery's prefork processes: one per core, Celery's own default. */
const CELERY_CONCURRENCY = 2;

interface Level {
  name: "lazy" | "always";
  nats: string;
  redis: RedisDurability;
  label: string;
}

const LEVELS: Level[] = [
  { name: "lazy", nats: "lazy", redis: "default", label: "lazy: NATS sync_interval default (2 min) / Redis default (RDB snapshots, no AOF)" },
  { name: "always", nats: "always", redis: "always", label: "always: NATS sync_interval always / Redis appendonly yes + appendfsync always" },
];

interface Row {
  round: number;
  level: Level["name"];
  system: "Colmena" | "BullMQ" | "Celery";
  workers: string;
  summary: Summary;
  firstError?: string;
  /** CPU microseconds per task, by process (warm-up included). */
  cpu: Record<string, number>;
  /** The store's (nats-server's, redis-server's) fsync + fdatasync calls per task (warm-up included), with BENCH_TASKS_FSYNC=1. */
  fsyncs?: number;
  /** NATS messages per task (warm-up included): into nats-server, out of it, and in+out by connection name. */
  msgs?: { in: number; out: number; byConn: Record<string, number> };
  /** Read / write system calls per task by process (the process itself, not its children). */
  syscalls?: Record<string, string>;
}

type Outcome = Pick<Row, "summary" | "firstError" | "cpu" | "fsyncs" | "msgs" | "syscalls">;

interface Plan {
  total: number;
  warmupPerClient: number;
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  // Steady state: 150 unrecorded tasks per client (2,400 in all, about 1.5 s for Colmena and BullMQ)
  // let every Node process's JIT settle first. With 5 per client and 1,500 tasks measured (before
  // 2026-11-22) the runs measured warm-up too: both Colmena and BullMQ read 30-45% lower, +-10% apart.
  const plan: Plan = ctx.quick ? { total: 160, warmupPerClient: 2 } : { total: 6000, warmupPerClient: 150 };
  // BENCH_TASKS_TOTAL=<n> runs longer (for profiles, where start-up should not weigh).
  if (process.env.BENCH_TASKS_TOTAL) plan.total = Number(process.env.BENCH_TASKS_TOTAL);
  const rows: Row[] = [];
  // BENCH_TASKS_PEERS=0 measures Colmena alone (for quick iterations; no ratios then).
  const peers = process.env.BENCH_TASKS_PEERS !== "0";
  // BENCH_TASKS_LEVELS=lazy and BENCH_TASKS_WORKERS=1 narrow a run (quick iterations); 0 worker processes: the worker runs in the services process.
  const levels = LEVELS.filter((l) => !process.env.BENCH_TASKS_LEVELS || process.env.BENCH_TASKS_LEVELS.split(",").includes(l.name));
  const workerCounts = [0, 1, 2].filter((n) => !process.env.BENCH_TASKS_WORKERS || process.env.BENCH_TASKS_WORKERS.split(",").includes(String(n)));
  const rounds = Number(process.env.BENCH_TASKS_ROUNDS ?? (ctx.quick ? 1 : 3));
  for (let round = 1; round <= rounds; round++) {
    for (const level of levels) {
      const tag = `round ${round}/${rounds}, ${level.name}`;
      for (const workers of workerCounts) {
        ctx.progress(`${tag}: Colmena, worker ${workerLabel(workers)}, ${plan.total} tasks`);
        rows.push({ round, level: level.name, system: "Colmena", workers: workerLabel(workers), ...(await colmena(level, workers, plan, ctx.natsBin)) });
        const r = rows.at(-1)!;
        ctx.progress(`  ${fmt(r.summary.rate)} tasks/s (${fmt(r.summary.seconds, 1)} s measured); CPU µs/task ${JSON.stringify(r.cpu, (_k, v) => (typeof v === "number" ? Math.round(v) : v))}; NATS msgs/task ${JSON.stringify(r.msgs)}; syscalls/task ${JSON.stringify(r.syscalls)}`);
      }
      if (!peers) continue;
      ensureDebianPackages([{ name: "redis-server", marker: "/usr/bin/redis-server" }, ...CELERY_PACKAGES], ctx.progress);
      ctx.progress(`${tag}: BullMQ and Celery on redis-server (${level.redis} persistence)`);
      const redis = await startRedis(level.redis);
      ctx.progress("  redis-server started");
      try {
        rows.push({ round, level: level.name, system: "BullMQ", workers: "1 process x 16", ...(await bullmq(redis, plan)) });
        ctx.progress(`  BullMQ ${fmt(rows.at(-1)!.summary.rate)} tasks/s (${fmt(rows.at(-1)!.summary.seconds, 1)} s measured)`);
        rows.push({ round, level: level.name, system: "Celery", workers: `1 worker, prefork x ${CELERY_CONCURRENCY}`, ...(await celery(redis, plan)) });
        ctx.progress(`  Celery ${fmt(rows.at(-1)!.summary.rate)} tasks/s (${fmt(rows.at(-1)!.summary.seconds, 1)} s measured)`);
      } finally {
        await redis.stop();
      }
    }
  }
  return report(rows, plan, rounds);
}

/** How a row names where Colmena's worker ran. */
const workerLabel = (processes: number) => (processes === 0 ? "in the services process x 16" : `${processes} process${processes > 1 ? "es" : ""} x 16`);

/** Spawns the children of one run and stops them all afterwards, whatever happens. */
async function withChildren<T>(body: (spawn: (file: string, label: string, env: Record<string, string>) => Promise<Child>) => Promise<T>): Promise<T> {
  const children: Child[] = [];
  try {
    return await body(async (file, label, env) => {
      const c = await spawnChild(new URL(file, import.meta.url), { label, env });
      children.push(c);
      return c;
    });
  } finally {
    // Load first, then workers, then the API: nothing is left waiting on a stopped peer.
    for (const c of [...children].reverse()) await c.stop();
  }
}

async function colmena(level: Level, workers: number, plan: Plan, natsBin?: string): Promise<Outcome> {
  await using nats = await startNats({ jetstream: true, sync: level.nats, bin: natsBin });
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-bench-tasks-"));
  try {
    return await withChildren(async (spawn) => {
      const env = { BENCH_NATS_URL: nats.url, COLMENA_DATA_DIR: dataDir };
      const inProcess: Record<string, string> = workers === 0 ? { BENCH_TASKS_ROLE: "all", COLMENA_WORKER_ID: "bench-w0" } : {};
      const services = await spawn("./procs/services.ts", "services", { ...env, BENCH_TASKS_API: "1", ...inProcess });
      const pids: Record<string, number | null> = { "nats-server": nats.pid(), services: services.pid };
      // Workers and the load process start side by side (the API has already created the streams).
      const [load, ...ws] = await Promise.all([
        spawn("./procs/load.ts", "load", env),
        ...Array.from({ length: workers }, (_, i) => spawn("./procs/worker.ts", `worker-${i + 1}`, { ...env, BENCH_WORKER: "colmena", COLMENA_WORKER_ID: `bench-w${i + 1}` })),
      ]);
      ws.forEach((w, i) => (pids[`worker-${i + 1}`] = w.pid));
      pids.load = load.pid;
      const url = `tcp://127.0.0.1:${services.info.tcp}`;
      // One user per client, as 16 people submitting would be: each task's `task.done` push then reaches its
      // submitter's connection only. BENCH_TASKS_USERS=1 makes all 16 clients one user (before 2026-12-06),
      // so every push is fanned out to 16 connections (BullMQ's load reads each completion once).
      const token = await Promise.all(Array.from({ length: Number(process.env.BENCH_TASKS_USERS ?? CLIENTS) }, (_, i) => accessToken(url, i)));
      const msgsBefore = await natsMessages(nats.monitorUrl);
      const out = await counted(load, { url, op: "tasks.submit", data: { type: "uppercase", input: INPUT, wait: true, timeout_ms: 10_000 }, token, concurrency: CLIENTS }, plan, pids, nats.pid()!);
      out.msgs = perTask(msgsBefore, await natsMessages(nats.monitorUrl), allTasks(plan));
      // One figure for all worker processes together.
      for (const k of Object.keys(out.cpu).filter((k) => k.startsWith("worker-"))) {
        out.cpu.workers = (out.cpu.workers ?? 0) + out.cpu[k];
        delete out.cpu[k];
      }
      return out;
    });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function bullmq(redis: Redis, plan: Plan): Promise<Outcome> {
  return withChildren(async (spawn) => {
    const [worker, load] = await Promise.all([
      spawn("./procs/worker.ts", "bullmq-worker", { BENCH_WORKER: "bullmq", BENCH_REDIS_URL: redis.url }),
      spawn("./procs/load.ts", "load", {}),
    ]);
    const pids = { "redis-server": redis.pid, workers: worker.pid, load: load.pid };
    // redis-server's fsyncs too, to see its group commit (one per event-loop turn at `appendfsync always`) beside JetStream's.
    return counted(load, { url: redis.url, op: "uppercase", data: { input: INPUT }, concurrency: CLIENTS }, plan, pids, redis.pid);
  });
}

async function celery(redis: Redis, plan: Plan): Promise<Outcome> {
  const worker = startCeleryWorker(redis.url, CELERY_CONCURRENCY);
  try {
    const pids = { "redis-server": redis.pid, workers: worker.pid };
    const before = cpuSnapshot(pids);
    const r = await runCeleryClients(redis.url, plan.total, CLIENTS, plan.warmupPerClient);
    const completed = plan.warmupPerClient * CLIENTS + r.latencies.length + r.errors;
    const cpu = cpuPerOp(before, cpuSnapshot(pids), completed);
    cpu.load = (r.cpu_s * 1e6) / Math.max(1, r.latencies.length + r.errors); // measured part only, see celery_client.py
    return { summary: summarise(r.latencies, r.seconds, r.errors), cpu };
  } finally {
    await worker.stop();
  }
}

/** Every task a run submits, warm-up included (what per-task counts of a whole run divide by). */
const allTasks = (plan: Plan) => plan.total + plan.warmupPerClient * CLIENTS;

/** Runs the load, with CPU and system calls per task by process, and with BENCH_TASKS_FSYNC=1 the fsyncs of `store` (the process that persists). */
async function counted(load: Child, target: Omit<RunArgs, "warmupMs" | "durationMs">, plan: Plan, pids: Record<string, number | null>, store: number): Promise<Outcome> {
  const syncs = process.env.BENCH_TASKS_FSYNC === "1" ? await countFsyncs(store) : null;
  const before = cpuSnapshot(pids);
  const ioBefore = syscalls(pids);
  const r = await load.call<RunResult>("run", { ...target, warmupMs: 0, durationMs: 0, total: plan.total, warmupPerClient: plan.warmupPerClient });
  const done = r.completed ?? r.latencies.length;
  const cpu = cpuPerOp(before, cpuSnapshot(pids), done);
  const ioAfter = syscalls(pids);
  const sys: Record<string, string> = {};
  for (const k of Object.keys(ioAfter)) sys[k] = `${fmt((ioAfter[k].r - (ioBefore[k]?.r ?? 0)) / done, 1)}r/${fmt((ioAfter[k].w - (ioBefore[k]?.w ?? 0)) / done, 1)}w`;
  const fsyncs = syncs ? (await syncs()) / allTasks(plan) : undefined;
  return { summary: summarise(r.latencies, r.seconds, r.errors), firstError: r.firstError, cpu, syscalls: sys, ...(fsyncs !== undefined ? { fsyncs } : {}) };
}

/** Read and write system calls so far of each process (its own, not its children's: /proc/<pid>/io syscr, syscw). */
function syscalls(pids: Record<string, number | null>): Record<string, { r: number; w: number }> {
  const out: Record<string, { r: number; w: number }> = {};
  for (const [k, pid] of Object.entries(pids)) {
    if (!pid) continue;
    try {
      const io = readFileSync(`/proc/${pid}/io`, "utf8");
      out[k] = { r: Number(/syscr: (\d+)/.exec(io)?.[1]), w: Number(/syscw: (\d+)/.exec(io)?.[1]) };
    } catch { /* not ours to read, or gone */ }
  }
  return out;
}

/**
 * Counts a process's fsync and fdatasync calls (all its threads) until the
 * returned function is called: `strace -f -c` attached to it (seccomp-bpf,
 * so only those calls stop the process). Needs strace and ptrace rights.
 */
async function countFsyncs(pid: number): Promise<() => Promise<number>> {
  const st = spawnProcess("strace", ["-f", "-c", "--seccomp-bpf", "-e", "trace=fsync,fdatasync", "-p", String(pid)], { stdio: ["ignore", "ignore", "pipe"] });
  let out = "";
  st.stderr.on("data", (d) => (out += d));
  await new Promise((r) => setTimeout(r, 500)); // attached to every thread
  return async () => {
    const exited = new Promise((r) => st.once("exit", r));
    st.kill("SIGINT");
    await exited;
    // The summary's "total" line: % time, seconds, usecs/call, calls, [errors,] "total".
    const total = /^\s*[\d.]+\s+[\d.]+\s+\d*\s+(\d+)\s+(?:\d+\s+)?total\s*$/m.exec(out);
    return total ? Number(total[1]) : 0;
  };
}

interface MsgCounts { in: number; out: number; byConn: Record<string, number> }

/** nats-server's message counters (/varz) and each client connection's in+out (/connz, summed by name). */
async function natsMessages(monitorUrl: string): Promise<MsgCounts> {
  const varz = (await (await fetch(`${monitorUrl}/varz`)).json()) as { in_msgs: number; out_msgs: number };
  const connz = (await (await fetch(`${monitorUrl}/connz?limit=1000`)).json()) as { connections?: { name?: string; in_msgs: number; out_msgs: number }[] };
  const byConn: Record<string, number> = {};
  for (const c of connz.connections ?? []) byConn[c.name ?? "?"] = (byConn[c.name ?? "?"] ?? 0) + c.in_msgs + c.out_msgs;
  return { in: varz.in_msgs, out: varz.out_msgs, byConn };
}

function perTask(before: MsgCounts, after: MsgCounts, tasks: number): MsgCounts {
  const byConn: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.byConn)) byConn[k] = Math.round(((v - (before.byConn[k] ?? 0)) / tasks) * 100) / 100;
  return { in: (after.in - before.in) / tasks, out: (after.out - before.out) / tasks, byConn };
}

/** Registers a throwaway user and logs it in: the token the load connections of that user present. */
async function accessToken(url: string, n: number): Promise<string> {
  const c = await FrameClient.open(url);
  try {
    const username = `bench_${process.pid}_${Date.now() % 100_000}_${n}`;
    await c.call("auth.register", { username, password: "benchmark-password" });
    return ((await c.call("auth.login", { username, password: "benchmark-password" })) as { access_token: string }).access_token;
  } finally {
    c.close();
  }
}

/** One system's rows over the rounds, in the order they were first measured. */
interface Group {
  level: Row["level"];
  system: Row["system"];
  workers: string;
  rows: Row[];
}

function groups(rows: Row[]): Group[] {
  const out = new Map<string, Group>();
  for (const r of rows) {
    const key = `${r.level}|${r.system}|${r.workers}`;
    if (!out.has(key)) out.set(key, { level: r.level, system: r.system, workers: r.workers, rows: [] });
    out.get(key)!.rows.push(r);
  }
  return [...out.values()];
}

/** `median (min-max)` of a few values, or the value alone when there is one. */
function spread(values: number[], show: (v: number) => string): string {
  if (values.length === 1) return show(values[0]);
  return `${show(median(values))} (${show(Math.min(...values))}-${show(Math.max(...values))})`;
}

function report(rows: Row[], plan: Plan, rounds: number): BenchReport {
  const gs = groups(rows);
  const rate = (r: Row) => r.summary.rate;
  // Latencies from the round whose throughput is the median (the lower middle one for an even count).
  const middle = (g: Group) => [...g.rows].sort((a, b) => rate(a) - rate(b))[(g.rows.length - 1) >> 1];
  const results: Table = {
    title: `${plan.total} uppercase tasks from ${CLIENTS} concurrent clients (each waits for its result before the next), after ${plan.warmupPerClient} unrecorded tasks per client; ${rounds} round(s): tasks/s as median (min-max); latency submit-to-result in ms, from the median round`,
    columns: ["durability", "system", "workers", "tasks/s", "p50", "p99", "errors", "fsyncs/task", "NATS msgs/task in/out"],
    rows: gs.map((g) => [g.level, g.system, g.workers, spread(g.rows.map(rate), (v) => fmt(v, 0)), fmt(middle(g).summary.p50), fmt(middle(g).summary.p99), g.rows.reduce((n, r) => n + r.summary.errors, 0), g.rows.some((r) => r.fsyncs !== undefined) ? fmt(median(g.rows.map((r) => r.fsyncs ?? 0)), 2) : "-", g.rows.some((r) => r.msgs) ? `${fmt(median(g.rows.map((r) => r.msgs?.in ?? 0)), 1)} / ${fmt(median(g.rows.map((r) => r.msgs?.out ?? 0)), 1)}` : "-"]),
  };
  const roles = ["nats-server", "redis-server", "services", "workers", "load"];
  const cpuOf = (g: Group, k: string) => (g.rows.some((r) => r.cpu[k] !== undefined) ? median(g.rows.map((r) => r.cpu[k] ?? 0)) : undefined);
  const cpuTable: Table = {
    title: "CPU per task (microseconds, whole process trees, warm-up included, median over the rounds), by role",
    columns: ["durability", "system", "workers", "nats-server", "redis-server", "gateway + tasks API", "worker(s)", "clients", "total"],
    rows: gs.map((g) => [g.level, g.system, g.workers, ...roles.map((k) => fmt(cpuOf(g, k), 0)), fmt(median(g.rows.map((r) => roles.reduce((a, k) => a + (r.cpu[k] ?? 0), 0))), 0)]),
  };
  const peer = (round: number, level: string, system: Row["system"]) => rows.find((r) => r.round === round && r.level === level && r.system === system);
  if (!rows.some((r) => r.system === "BullMQ")) return { tables: [results, cpuTable], notes: [], data: { plan, rounds, rows } };
  // Each round's own ratio, so a slow moment of the machine weighs on both sides of it.
  const ratiosOf = (g: Group, system: Row["system"]) => g.rows.map((r) => ratio(rate(r), peer(r.round, r.level, system)?.summary.rate ?? NaN)).filter(Number.isFinite);
  const ratios: Table = {
    title: `Colmena's throughput as a ratio to each peer, median (min-max) of the ${rounds} rounds' own ratios (target: >= 1.0x BullMQ, >= 5x Celery)`,
    columns: ["durability", "Colmena's worker", "vs BullMQ", "vs Celery"],
    rows: gs
      .filter((g) => g.system === "Colmena")
      .map((g) => [g.level, g.workers.replace(" x 16", ""), spread(ratiosOf(g, "BullMQ"), times), spread(ratiosOf(g, "Celery"), times)]),
  };
  const notes = [
    ...LEVELS.filter((l) => rows.some((r) => r.level === l.name)).map((l) => `Level ${l.label}.`),
    "Where it ran (2 cores shared by all): Colmena - nats-server, one services process (auth + gateway + tasks API, and the worker too in the rows that say so), and 1 or 2 tasks worker processes (16 tasks at once each), one load process (16 TCP connections, tasks.submit with wait: true); BullMQ - redis-server, one worker process (concurrency 16), one load process (16 submitters sharing one Queue and one QueueEvents); Celery - the same redis-server (broker and result backend), one celery worker (prefork, 2 processes), 16 Python client processes (delay().get()).",
    ...rows.filter((r) => r.firstError).map((r) => `round ${r.round} ${r.level} ${r.system} ${r.workers}: first error ${r.firstError}`),
  ];
  return { tables: [results, ratios, cpuTable], notes, data: { plan, rounds, rows } };
}

export const tasksBenchmark: Benchmark = {
  name: "tasks",
  title: "Tasks: Colmena vs BullMQ vs Celery (issue 3)",
  run,
};
