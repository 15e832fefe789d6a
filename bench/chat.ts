/**
 * Benchmark 3 (issue 11): chat fan-out. WebSocket members joined to rooms,
 * one sender at rising rates (round-robin over the rooms), deliveries per
 * second and send-to-delivery latency, for:
 *
 * - Colmena: sender -> gateway -> chat (JetStream, file storage) -> the push
 *   durable -> `colmena.push.room.<room>` -> the gateway's one subscription
 *   per room -> every member's WebSocket; at NATS `sync_interval` default
 *   (lazy) and `always`, as bench/tasks.ts does durability levels; with
 *   gateway, auth and chat in one process (as `npm start` runs them), and
 *   with the gateway apart (as compose and Kubernetes do): in one process a
 *   room's next push waits for the last one's fan-out to a thousand sockets,
 *   apart it does not, and pushes that reach a busy gateway together leave
 *   each socket in one write; and with two gateways apart, the members
 *   spread over them as a load balancer would (each gateway fans a room's
 *   push out to its own members);
 * - Socket.IO 4: one server process, `socket.to(room).emit` (nothing stored);
 * - the floor (bench/peers/fanout-floor.ts): Colmena's frames over `ws`
 *   with nothing behind them (no NATS, no storage, no checks), a message's
 *   frame written as it is to each member's socket: what any Node server can
 *   reach beside this harness on this machine, so the rows read against the
 *   machine and not only against each other.
 *
 * The members and the sender live in one harness process
 * (bench/procs/chat-members.ts), the same for both (members are raw
 * WebSockets, bench/lib/raw-ws.ts, whose deliveries are recognised in the
 * bytes, for both systems, and each step reports the harness's CPU); the
 * servers in others.
 * Layouts: 1 room of 1,000 members, and 10 rooms of 100. A rate's row stops
 * the climb when two rungs in a row have a p99 past 50 ms, or when fewer than
 * 99% of the deliveries arrived. Each rung reports the CPU per delivery of
 * the server's processes (Colmena's with nats-server's apart), which load on
 * a shared machine distorts less than the rates. Memory per member: the
 * process holding the members' connections, its RSS delta (after a full
 * GC) over them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats } from "@colmena/testing";
import { spawnChild, type Child } from "./lib/child.ts";
import { cpuPerOp, cpuSnapshot } from "./lib/cpu.ts";
import { FrameClient } from "./lib/frame-client.ts";
import { fmt, times, type BenchContext, type BenchReport, type Benchmark, type Table } from "./lib/report.ts";

const P99_LIMIT_MS = 50;
const TARGET_DELIVERIES = 50_000;

interface Layout { name: string; rooms: number; perRoom: number; rates: number[] }
/**
 * `split`: the gateway in a process of its own, auth and chat in another (as compose and Kubernetes run them); else all
 * three in one (as `npm start`). `gateways` (split): that many gateway processes, the members spread over them.
 */
interface System { name: string; fsync: string; split?: boolean; gateways?: number; floor?: boolean }
interface Step {
  rate: number; sent: number; acked: number; errors: number; delivered: number; seconds: number; p50: number; p99: number; max: number; harnessCpu: number;
  /** CPU microseconds per delivery of the server process and of nats-server (Colmena), over the step. */
  serverUs: number; natsUs: number;
}
interface Run { system: System; layout: Layout; steps: Step[]; memPerMember: number; firstError?: string }

const SYSTEMS: System[] = [
  { name: "Colmena", fsync: "lazy" },
  { name: "Colmena", fsync: "lazy", split: true },
  { name: "Colmena", fsync: "lazy", split: true, gateways: 2 },
  { name: "Colmena", fsync: "always" },
  { name: "Colmena", fsync: "always", split: true },
  { name: "Socket.IO 4", fsync: "-" },
  { name: "Floor (ws, nothing behind it)", fsync: "-", floor: true },
];
/** A system's name in `BENCH_CHAT_SYSTEMS`: lazy, lazy-split, lazy-split-2, always, always-split, socketio, floor. */
const key = (s: System) => (s.floor ? "floor" : s.fsync === "-" ? "socketio" : `${s.fsync}${s.split ? "-split" : ""}${gatewaysOf(s) > 1 ? `-${gatewaysOf(s)}` : ""}`);
/** Colmena's gateway processes: `gateways` when apart, else the one in the services process. */
const gatewaysOf = (s: System) => (s.split ? s.gateways ?? 1 : 1);

function layouts(quick: boolean): Layout[] {
  if (quick) return [{ name: "1 room x 50", rooms: 1, perRoom: 50, rates: [20, 100] }, { name: "2 rooms x 25", rooms: 2, perRoom: 25, rates: [20, 100] }];
  return [
    { name: "1 room x 1,000", rooms: 1, perRoom: 1000, rates: [10, 25, 50, 100, 200, 400, 800] },
    { name: "10 rooms x 100", rooms: 10, perRoom: 100, rates: [100, 250, 500, 1000, 2000, 4000, 8000] },
  ];
}

const deliveriesPerSecond = (s: Step) => s.delivered / s.seconds;
const ok = (s: Step, perRoom: number) => s.p99 < P99_LIMIT_MS && s.delivered >= 0.99 * s.acked * perRoom && s.errors === 0;

async function run(ctx: BenchContext): Promise<BenchReport> {
  const seconds = ctx.quick ? 1 : Number(process.env.BENCH_CHAT_SECONDS ?? 3);
  const runs: Run[] = [];
  const only = process.env.BENCH_CHAT_SYSTEMS?.split(",");
  for (const layout of layouts(ctx.quick)) {
    for (const system of SYSTEMS.filter((s) => !only || only.includes(key(s)))) {
      ctx.progress(`${layout.name}: ${labelOf(system)}`);
      const r = await measure(system, layout, seconds, ctx);
      runs.push(r);
      for (const s of r.steps) ctx.progress(`  ${s.rate} msg/s: ${fmt(deliveriesPerSecond(s))} deliveries/s, p50 ${fmt(s.p50)} p99 ${fmt(s.p99)} ms, ${s.delivered}/${s.acked * layout.perRoom}${s.errors ? `, ${s.errors} errors` : ""}, harness CPU ${fmt(s.harnessCpu)}%, server ${fmt(s.serverUs, 1)} µs/delivery${Number.isNaN(s.natsUs) ? "" : ` (+nats ${fmt(s.natsUs, 1)})`}`);
    }
  }
  return report(runs, seconds);
}

/** One system and layout: servers up, members in, the rates climbed, everything stopped. */
async function measure(system: System, layout: Layout, seconds: number, ctx: BenchContext): Promise<Run> {
  const children: Child[] = [];
  const spawn = async (file: string, label: string, env: Record<string, string> = {}, nodeArgs: string[] = []) => {
    const c = await spawnChild(new URL(file, import.meta.url), { label, env, nodeArgs, readyTimeoutMs: 120_000 });
    children.push(c);
    return c;
  };
  const colmena = system.name === "Colmena";
  const nats = colmena ? await startNats({ jetstream: true, sync: system.fsync, bin: ctx.natsBin }) : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-bench-chat-"));
  const run: Run = { system, layout, steps: [], memPerMember: NaN };
  try {
    const servicesEnv = { BENCH_NATS_URL: nats?.url ?? "", BENCH_CHAT: "1", COLMENA_DATA_DIR: dataDir };
    // With the gateway apart, `servers` are the gateways' processes (the members' connections and their memory), `services` the other.
    const services = system.split ? await spawn("./procs/services.ts", "chat-services", { ...servicesEnv, BENCH_ROLE: "services" }) : undefined;
    const servers: Child[] = [];
    if (system.floor) servers.push(await spawn("./peers/fanout-floor.ts", "fanout-floor", {}, ["--expose-gc"]));
    else if (!colmena) servers.push(await spawn("./peers/socketio-server.ts", "socketio-server", {}, ["--expose-gc"]));
    else for (let i = 0; i < gatewaysOf(system); i++) {
      servers.push(await spawn("./procs/services.ts", system.split ? `chat-gateway-${i + 1}` : "chat-services", { ...servicesEnv, BENCH_ROLE: system.split ? "gateway" : "all" }, ["--expose-gc"]));
    }
    const rooms = Array.from({ length: layout.rooms }, (_, i) => `bench-${i}`);
    const open: Record<string, unknown> = { rooms, perRoom: layout.perRoom };
    if (colmena) {
      const tcp = `tcp://127.0.0.1:${servers[0].info.tcp}`;
      const [memberToken, senderToken] = [await login(tcp, "bench-member"), await login(tcp, "bench-sender")];
      const admin = await FrameClient.open(tcp);
      await admin.call("auth.token", { access_token: senderToken });
      for (const room of rooms) await admin.call("chat.create", { room });
      admin.close();
      Object.assign(open, { system: "colmena", urls: servers.map((g) => `ws://127.0.0.1:${g.info.http}/ws`), memberToken, senderToken });
    } else if (system.floor) Object.assign(open, { system: "colmena", urls: [servers[0].info.url], memberToken: "-", senderToken: "-" }); // it answers every request ok
    else Object.assign(open, { system: "socketio", urls: [servers[0].info.url] });
    const harness = await spawn("./procs/chat-members.ts", "chat-members");
    const rss = async () => (await Promise.all(servers.map((g) => g.call<{ rss: number }>("memory")))).reduce((a, m) => a + m.rss, 0);
    const before = await rss();
    const { members } = await harness.call<{ members: number }>("open", open);
    await new Promise((r) => setTimeout(r, 1000));
    run.memPerMember = (await rss() - before) / members;
    // A short unrecorded step warms the paths (JIT, buffers) before the climb.
    await harness.call("step", { rate: layout.rates[0], seconds: 1 });
    // Two failing rungs in a row end the climb (one alone may be a hiccup of a shared machine), as does a lost delivery.
    const pids: Record<string, number | null | undefined> = { services: services?.pid, nats: nats?.pid() };
    servers.forEach((g, i) => (pids[`server-${i}`] = g.pid));
    for (let i = 0, failed = 0; i < layout.rates.length && failed < 2; i++) {
      const cpu0 = cpuSnapshot(pids);
      const got = await harness.call<Omit<Step, "rate" | "serverUs" | "natsUs">>("step", { rate: layout.rates[i], seconds });
      const cpu = cpuPerOp(cpu0, cpuSnapshot(pids), got.delivered);
      const serverUs = servers.reduce((a, _, k) => a + cpu[`server-${k}`], cpu.services ?? 0);
      const s: Step = { rate: layout.rates[i], ...got, serverUs, natsUs: cpu.nats ?? NaN };
      run.steps.push(s);
      failed = ok(s, layout.perRoom) ? 0 : failed + 1;
      if (s.delivered < 0.99 * s.acked * layout.perRoom) break;
    }
  } catch (err) {
    run.firstError = (err as Error).message.split("\n")[0];
    ctx.progress(`  failed: ${run.firstError}`);
  } finally {
    for (const c of children.reverse()) await c.stop();
    await nats?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return run;
}

/** Registers (safe to repeat) and logs in `username`; its access token. */
async function login(tcpUrl: string, username: string): Promise<string> {
  const c = await FrameClient.open(tcpUrl);
  try {
    await c.call("auth.register", { username, password: "bench-password" });
    return ((await c.call("auth.login", { username, password: "bench-password" })) as { access_token: string }).access_token;
  } finally {
    c.close();
  }
}

const apart = (s: System) => (!s.split ? "" : gatewaysOf(s) > 1 ? `, ${gatewaysOf(s)} gateways apart` : ", gateway apart");
const labelOf = (s: System) => `${s.name}${s.fsync !== "-" ? ` (fsync ${s.fsync}${apart(s)})` : ""}`;
const label = (r: Run) => labelOf(r.system);
/** The highest deliveries/s of a run's steps that kept p99 under the limit with every delivery made. */
const best = (r: Run) => Math.max(0, ...r.steps.filter((s) => ok(s, r.layout.perRoom)).map(deliveriesPerSecond));

function report(runs: Run[], seconds: number): BenchReport {
  const steps: Table = {
    title: `Rising send rates, ${seconds} s each after a 1 s warm-up: deliveries/s and send-to-delivery latency (ms); two rows in a row past p99 ${P99_LIMIT_MS} ms, or missing deliveries, end the climb`,
    columns: ["layout", "system", "sent msg/s", "deliveries/s", "p50", "p99", "max", "delivered / expected", "send errors", "harness CPU %", "CPU µs/delivery: server process(es) (+nats)"],
    rows: runs.flatMap((r) => r.steps.map((s) => [r.layout.name, label(r), s.rate, fmt(deliveriesPerSecond(s)), fmt(s.p50), fmt(s.p99), fmt(s.max), `${s.delivered} / ${s.acked * r.layout.perRoom}`, s.errors, fmt(s.harnessCpu), `${fmt(s.serverUs, 1)}${Number.isNaN(s.natsUs) ? "" : ` (+${fmt(s.natsUs, 1)})`}`])),
  };
  const bests: Table = {
    title: `Highest rate with p99 under ${P99_LIMIT_MS} ms and every delivery made; memory per member connection (server RSS delta after a full GC / members)`,
    columns: ["layout", "system", "deliveries/s", "vs Socket.IO", "KiB per member", "error"],
    rows: runs.map((r) => {
      const peer = runs.find((p) => p.layout === r.layout && p.system.name.startsWith("Socket.IO"));
      return [r.layout.name, label(r), fmt(best(r)), peer && r !== peer && best(peer) > 0 ? times(best(r) / best(peer)) : "-", fmt(r.memPerMember / 1024, 1), r.firstError ?? ""];
    }),
  };
  const notes: string[] = [];
  for (const layout of [...new Set(runs.map((r) => r.layout))]) {
    const peer = runs.find((r) => r.layout === layout && r.system.name.startsWith("Socket.IO"));
    for (const r of runs.filter((x) => x.layout === layout && x.system.name === "Colmena")) {
      const b = best(r);
      const vs = peer ? best(peer) : NaN;
      const versus = !peer ? "no Socket.IO run" : vs > 0 ? `${times(b / vs)} Socket.IO's ${fmt(vs)} (target >= 2x: ${b >= 2 * vs ? "met" : "not met"})` : "Socket.IO passed no rung (no ratio)";
      notes.push(`${layout.name}, ${label(r)}: ${fmt(b)} deliveries/s at p99 < ${P99_LIMIT_MS} ms (target >= ${fmt(TARGET_DELIVERIES)}: ${b >= TARGET_DELIVERIES ? "met" : "not met"}); ${versus}.`);
    }
    const floor = runs.find((r) => r.layout === layout && r.system.floor);
    if (floor) notes.push(`${layout.name}, the floor (a server that only relays, bench/peers/fanout-floor.ts): ${fmt(best(floor))} deliveries/s at p99 < ${P99_LIMIT_MS} ms, what a Node server reached beside this harness on this machine in this run.`);
  }
  notes.push("The climb's rates are a ladder, so a best rate is the highest rung passed, not the exact ceiling. Members, sender and servers share the machine's cores (the harness is one process).");
  return { tables: [steps, bests], notes, data: { runs, seconds } };
}

export const chatBenchmark: Benchmark = { name: "chat", title: "Chat fan-out: Colmena vs Socket.IO 4 (issue 11)", run };
