/**
 * The notify benchmark (issue 13): one topic with 1,000 and 10,000
 * subscribers connected, published on at rising rates; deliveries per
 * second and p50/p99 publish-to-push latency, for Colmena and for ntfy, with
 * the same client harness (bench/procs/notify-clients.ts, a process of its
 * own); and the topic-matching index against a linear scan at 100,000
 * subscriptions.
 *
 * Processes (2 cores shared by all): nats-server, "services" (auth and
 * notify) and the gateway in a Node process each, as compose and Kubernetes
 * run them (`BENCH_NOTIFY_LAYOUT=one` puts all three in one, as `npm start`
 * does; `BENCH_NOTIFY_GATEWAYS=1,2` measures Colmena with one gateway process
 * and again with two, the subscribers spread over them as a Kubernetes
 * Service spreads them), ntfy (Go), the harness. Colmena's
 * subscribers are users each with their own durable subscription and inbox,
 * pushed over frame connections (`notify.event`), and, when the gateway
 * serves it, over `GET /v1/notify/events` as NDJSON (ntfy's JSON stream is
 * the same shape of client); ntfy's are `GET /<topic>/json` streams.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { TopicIndex, patternMatches } from "@colmena/notify";
import { startNats } from "@colmena/testing";
import { spawnChild, type Child } from "./lib/child.ts";
import { cpuPerOp, cpuSnapshot } from "./lib/cpu.ts";
import { fmt, type BenchContext, type BenchReport, type Benchmark, type Table } from "./lib/report.ts";
import { startNtfy } from "./peers/ntfy.ts";
import type { OpenArgs, PublishVia, StepResult } from "./procs/notify-clients.ts";

interface Plan {
  /** Subscribers, and the publish rates (messages/s) tried at that size, rising. */
  sizes: { subscribers: number; rates: number[] }[];
  stepMs: number;
  drainMs: number;
  indexSubscriptions: number;
  indexLookups: number;
  linearLookups: number;
}

const fullPlan: Plan = {
  sizes: [{ subscribers: 1000, rates: [10, 50, 200] }, { subscribers: 10_000, rates: [2, 10, 40] }],
  stepMs: 4000, drainMs: 15_000, indexSubscriptions: 100_000, indexLookups: 20_000, linearLookups: 200,
};
const quickPlan: Plan = { sizes: [{ subscribers: 50, rates: [5, 20] }], stepMs: 800, drainMs: 3000, indexSubscriptions: 10_000, indexLookups: 1000, linearLookups: 50 };

/**
 * The plan, narrowed for a shorter run by the environment (as the other
 * benchmarks' `BENCH_*`): `BENCH_NOTIFY_SIZES=1000:10,50;10000:2,10`
 * (subscribers: rates), `BENCH_NOTIFY_STEP_MS`, `BENCH_NOTIFY_DRAIN_MS` (the longest
 * wait for a step's last deliveries), and `BENCH_NOTIFY_SYSTEMS`
 * (any of `colmena`, `http`, `ntfy`; all by default).
 */
function planOf(quick: boolean): Plan & { systems: Set<string> } {
  const plan = { ...(quick ? quickPlan : fullPlan), systems: new Set((process.env.BENCH_NOTIFY_SYSTEMS ?? "colmena,http,ntfy").split(",")) };
  const sizes = process.env.BENCH_NOTIFY_SIZES;
  if (sizes) plan.sizes = sizes.split(";").map((s) => {
    const [n, rates] = s.split(":");
    return { subscribers: Number(n), rates: rates.split(",").map(Number) };
  });
  if (process.env.BENCH_NOTIFY_STEP_MS) plan.stepMs = Number(process.env.BENCH_NOTIFY_STEP_MS);
  if (process.env.BENCH_NOTIFY_DRAIN_MS) plan.drainMs = Number(process.env.BENCH_NOTIFY_DRAIN_MS);
  return plan;
}

/** The largest size measured over HTTP (see `colmena`). */
const HTTP_MAX_SUBSCRIBERS = 1000;

/** `cpu`: CPU microseconds per delivery, by process (the server side, and the harness). */
interface Cell { system: string; subscribers: number; rate: number; r: StepResult; cpu: Record<string, number>; slow?: number }
type Pids = Record<string, number | null | undefined>;

/** Saturated: under 99% of the deliveries arrived, or the p99 passed 5 s; a higher rate would only queue more. */
const saturated = (r: StepResult, subscribers: number) => r.delivered < 0.99 * r.published * subscribers || r.summary.p99 > 5000;

/** One system at one size: a fresh harness opens the subscribers, then the rates rise until saturation. */
async function measure(ctx: BenchContext, plan: Plan, system: string, size: Plan["sizes"][number], open: OpenArgs, via: PublishVia, step: { n: number }, pids: Pids, slowConsumers?: () => Promise<number>): Promise<Cell[]> {
  const harness = await spawnChild(new URL("./procs/notify-clients.ts", import.meta.url), { label: `clients-${system}`, readyTimeoutMs: 60_000 });
  const cells: Cell[] = [];
  try {
    const t = Date.now();
    await harness.call("open", open);
    ctx.progress(`${system}: ${size.subscribers} subscribers connected in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    for (const rate of size.rates) {
      const all = { ...pids, harness: harness.pid };
      const slowBefore = await slowConsumers?.();
      const before = cpuSnapshot(all);
      const r = await harness.call<StepResult>("step", { via, step: ++step.n, rate, durationMs: plan.stepMs, drainMs: plan.drainMs });
      const cpu = cpuPerOp(before, cpuSnapshot(all), r.delivered);
      const slow = slowBefore === undefined ? undefined : (await slowConsumers!()) - slowBefore;
      ctx.progress(`${system} x${size.subscribers} @ ${rate}/s: ${r.delivered}/${r.published * size.subscribers} delivered, ${fmt(r.summary.rate)}/s, p50 ${fmt(r.summary.p50)} ms, p99 ${fmt(r.summary.p99)} ms`);
      cells.push({ system, subscribers: size.subscribers, rate, r, cpu, slow });
      if (saturated(r, size.subscribers)) break;
    }
  } finally {
    await harness.stop();
  }
  return cells;
}

/** Colmena: nats-server and the services process; the subscribers are users of their own. */
async function colmena(ctx: BenchContext, plan: ReturnType<typeof planOf>, step: { n: number }, notes: string[], gatewayCount: number): Promise<Cell[]> {
  await using nats = await startNats({ jetstream: true, bin: ctx.natsBin });
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-bench-notify-"));
  let services: Child | undefined;
  let gateway: Child | undefined;
  const more: Child[] = [];
  const cells: Cell[] = [];
  try {
    const env = { BENCH_NATS_URL: nats.url, BENCH_NOTIFY: "1", COLMENA_DATA_DIR: dataDir, COLMENA_INSTANCE: "bench", COLMENA_SCRYPT_N: "1024", COLMENA_AUTH_HASH_QUEUE: "10000", COLMENA_AUTH_ADDRESS_FAILURES: "1000000" };
    const spawn = (label: string, role: string) => spawnChild(new URL("./procs/services.ts", import.meta.url), { label, env: { ...env, BENCH_ROLE: role } });
    const apart = process.env.BENCH_NOTIFY_LAYOUT !== "one";
    services = await spawn("services", apart ? "services" : "all");
    gateway = apart ? await spawn("gateway", "gateway") : undefined;
    // BENCH_NOTIFY_GATEWAYS=2: more gateway processes, the subscribers spread over them (as a Service spreads them on Kubernetes).
    for (let g = 1; apart && g < gatewayCount; g++) more.push(await spawn(`gateway${g + 1}`, "gateway"));
    const front = gateway ?? services;
    const tcpUrl = `tcp://127.0.0.1:${front.info.tcp}`;
    const subscriberUrls = [front, ...more].map((c) => `tcp://127.0.0.1:${c.info.tcp}`).join(",");
    const pids: Pids = { server: services.pid, gateway: gateway?.pid, "nats-server": nats.pid() };
    more.forEach((c, i) => { pids[`gateway${i + 2}`] = c.pid; });
    const httpBase = `http://127.0.0.1:${front.info.http}`;
    // nats-server's count of slow consumers (a client whose pending bytes passed the limit: its core messages dropped).
    const slowConsumers = async () => ((await (await fetch(`${nats.monitorUrl}/varz`)).json()) as { slow_consumers: number }).slow_consumers;
    // The HTTP bridge may not serve the route (404) on this build: then frames only.
    const httpServed = plan.systems.has("http") && (await fetch(`${httpBase}/v1/notify/events`).then((r) => r.status, () => 0)) === 401;
    const httpNote = httpServed ? `Colmena over HTTP (\`GET /v1/notify/events\` NDJSON, ntfy's kind of client) up to ${HTTP_MAX_SUBSCRIBERS} subscribers: each stream is a bridged call that pings both ways every second, so 10,000 of them were left out on two shared cores.`
      : "Colmena over HTTP (`GET /v1/notify/events`) was not measured in this run.";
    if (!notes.includes(httpNote)) notes.push(httpNote);
    for (const size of plan.sizes) {
      const topic = `bench.s${size.subscribers}`;
      const via: PublishVia = { kind: "frames", tcpUrl, topic };
      if (plan.systems.has("colmena")) cells.push(...await measure(ctx, plan, gatewayCount > 1 ? `colmena (frames, ${gatewayCount} gateways)` : "colmena (frames)", size, { kind: "frames", tcpUrl: subscriberUrls, topic, count: size.subscribers, prefix: `f${size.subscribers}u` }, via, step, pids, slowConsumers));
      // 10,000 bridged streams would ping each way every second (the bridge's liveness): 20,000 messages/s before any delivery, too many for these two cores.
      if (httpServed && size.subscribers <= HTTP_MAX_SUBSCRIBERS) {
        const t2 = `${topic}.http`;
        cells.push(...await measure(ctx, plan, "colmena (HTTP NDJSON)", size, {
          kind: "http", url: `${httpBase}/v1/notify/events?topic=${t2}`, tcpUrl, topic: t2, count: size.subscribers, prefix: `h${size.subscribers}u`,
        }, { kind: "frames", tcpUrl, topic: t2 }, step, pids, slowConsumers));
      }
    }
  } finally {
    for (const c of more) await c.stop();
    await gateway?.stop();
    await services?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return cells;
}

async function ntfy(ctx: BenchContext, plan: Plan, step: { n: number }, notes: string[]): Promise<Cell[]> {
  const max = Math.max(...plan.sizes.map((s) => s.subscribers));
  const server = await startNtfy(ctx.progress, max);
  notes.push(`ntfy ${server.version} (Debian's package), its message cache in SQLite (its own persistence), visitor limits lifted for 127.0.0.1.`);
  const cells: Cell[] = [];
  try {
    for (const size of plan.sizes) {
      const topic = `bench_s${size.subscribers}`;
      cells.push(...await measure(ctx, plan, "ntfy", size, { kind: "http", url: `${server.url}/${topic}/json`, count: size.subscribers }, { kind: "http", url: `${server.url}/${topic}` }, step, { server: server.pid }));
    }
  } finally {
    await server.stop();
  }
  return cells;
}

/** The trie against a linear scan: the same patterns, the same random topics, the same answers. */
function matching(plan: Plan): { table: Table; data: unknown } {
  const n = plan.indexSubscriptions;
  const apps = 1000;
  const pattern = (i: number) => {
    const app = `app${i % apps}`;
    const svc = `svc${(i >> 3) % 20}`;
    const kind = i % 10;
    return kind < 6 ? `${app}.${svc}.deploy` : kind < 8 ? `${app}.*.deploy` : kind < 9 ? `${app}.>` : `*.${svc}.*`;
  };
  const patterns = Array.from({ length: n }, (_, i) => pattern(i));
  const index = new TopicIndex<number>();
  patterns.forEach((p, i) => index.add(p, String(i), i));
  const topics = Array.from({ length: plan.indexLookups }, (_, i) => `app${(i * 7919) % apps}.svc${i % 20}.deploy`);
  const time = (list: string[], f: (t: string) => number) => {
    let found = 0;
    const t0 = performance.now();
    for (const t of list) found += f(t);
    return { ms: performance.now() - t0, found, lookups: list.length };
  };
  const trie = time(topics, (t) => index.match(t).length);
  // The scan is slow: a sample of the topics, checked against the index on the same sample.
  const sample = topics.slice(0, plan.linearLookups);
  const linear = time(sample, (t) => { let k = 0; for (const p of patterns) if (patternMatches(p, t)) k++; return k; });
  const trieOnSample = time(sample, (t) => index.match(t).length);
  if (trieOnSample.found !== linear.found) throw new Error(`the index found ${trieOnSample.found} matches, the scan ${linear.found}`);
  const perLookup = (r: { ms: number; lookups: number }) => r.ms / r.lookups;
  const row = (name: string, r: { ms: number; found: number; lookups: number }) => [name, Math.round(r.lookups / (r.ms / 1000)), fmt(perLookup(r) * 1000), fmt(r.found / r.lookups, 1)];
  return {
    table: {
      title: `Topic matching at ${n.toLocaleString("en-US")} subscriptions (${topics.length.toLocaleString("en-US")} topics; the scan on ${sample.length.toLocaleString("en-US")} of them)`,
      columns: ["method", "lookups/s", "µs per lookup", "matches per lookup"],
      rows: [row("subject trie (TopicIndex)", trie), row("linear scan (patternMatches)", linear), ["speed-up", `${fmt(perLookup(linear) / perLookup(trie), 0)}x`, "", ""]],
    },
    data: { subscriptions: n, lookups: topics.length, trie, linear },
  };
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  const plan = planOf(ctx.quick);
  const notes: string[] = [];
  const step = { n: 0 };
  ctx.progress("matching index against a linear scan");
  const m = matching(plan);
  ctx.progress(`colmena: nats-server, ${process.env.BENCH_NOTIFY_LAYOUT === "one" ? "services (auth, notify, gateway)" : "services (auth, notify), gateway"}, harness`);
  const cells: Cell[] = [];
  // BENCH_NOTIFY_GATEWAYS=1,2: Colmena once per count of gateway processes, the subscribers spread over them.
  for (const g of (process.env.BENCH_NOTIFY_GATEWAYS ?? "1").split(",").map(Number)) {
    if (plan.systems.has("colmena") || plan.systems.has("http")) cells.push(...await colmena(ctx, plan, step, notes, g));
  }
  if (plan.systems.has("ntfy")) {
    ctx.progress("ntfy");
    cells.push(...await ntfy(ctx, plan, step, notes));
  }
  const fanout: Table = {
    title: "One topic, N subscribers connected: deliveries per second and publish-to-push latency",
    columns: ["system", "subscribers", "publish rate (msg/s)", "delivered / expected", "deliveries/s", "p50 ms", "p99 ms", "CPU µs/delivery: server (+nats)", "harness", "NATS slow consumers"],
    rows: cells.map((c) => [
      c.system, c.subscribers, c.rate, `${c.r.delivered} / ${c.r.published * c.subscribers}`, c.r.summary.rate, c.r.summary.p50, c.r.summary.p99,
      `${fmt(Object.entries(c.cpu).filter(([k]) => k === "server" || k.startsWith("gateway")).reduce((a, [, v]) => a + v, 0), 1)}${c.cpu["nats-server"] !== undefined ? ` (+${fmt(c.cpu["nats-server"], 1)})` : ""}`, fmt(c.cpu.harness, 1), c.slow ?? "-",
    ]),
  };
  notes.push(
    "Each step publishes for the step's duration at a fixed rate (open loop) and waits for the deliveries to stop coming; deliveries/s counts from the first publish to the last delivery. Rates rise until a step saturates (under 99% delivered, or p99 over 5 s).",
    "Colmena stores each notification once, in every subscriber's durable inbox (derived from the subscriptions' spans in its SQLite read model), and pushes it; ntfy keeps a message cache per topic but no per-subscriber inbox or read state.",
    "CPU µs per delivery: the gateway and services processes together (Node, one thread each) and nats-server for Colmena, the ntfy process (Go, every core) for ntfy; and the harness. On two cores shared with other work, a single-threaded process gets a smaller share than a many-threaded one.",
    "One harness process receives every delivery for both systems (it finds a marker in each line instead of parsing its JSON): at the highest rates the harness, on the same two cores, is part of what saturates.",
  );
  return { tables: [fanout, m.table], notes, data: { plan, cells, matching: m.data } };
}

export const notifyBenchmark: Benchmark = { name: "notify", title: "Notify: fan-out to one topic against ntfy, and the topic index", run };
