/**
 * Benchmark (issue 12): moving file bytes through Colmena against moving
 * them straight to the same blob store, and tus against the Node reference
 * tus server.
 *
 * Processes (2 cores shared by all of them): nats-server (JetStream, the
 * default blob store, `sync_interval: always` as Colmena configures it);
 * "gateway" (auth, diag and the gateway: bench/procs/services.ts); "files"
 * (the files service alone); "peer" (@tus/server with @tus/file-store); and
 * "load" (every client, one transfer at a time).
 *
 * Paths, each at 1 MiB, 64 MiB and 1 GiB (`--quick`: 1 and 8 MiB), every
 * upload of content never stored before (a fresh random file each, so no
 * upload is deduplicated):
 * - direct: the raw JetStream object store client (@nats-io/obj) putting the
 *   file as one object and getting it back, straight to the same nats-server
 *   with the store options the files service uses: no gateway, no files
 *   service, no hashing of the content, no encryption;
 * - ws: files.upload.* chunks and files.read over a MessagePack WebSocket (libs/client);
 * - http: PUT and GET /v1/files/<path> through the gateway;
 * - tus: tus-js-client's Node build to the gateway's /v1/tus/, one PATCH;
 * - tus peer: the same client and file to @tus/server (uploads only: tus has no download).
 * Throughput in MB/s (10^6 bytes per second), the median of the repeats; CPU
 * milliseconds per MB of each process (uploads and downloads apart); the
 * peak RSS of each process while the row ran.
 */
import { randomBytes, randomFillSync } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats, watchRss } from "@colmena/testing";
import { cpuSnapshot } from "./lib/cpu.ts";
import { spawnChild, type Child } from "./lib/child.ts";
import { median, ratio } from "./lib/stats.ts";
import { fmt, times, type BenchContext, type BenchReport, type Benchmark } from "./lib/report.ts";
import type { TransferArgs, TransferResult } from "./procs/files-load.ts";

const MiB = 1024 * 1024;
type PathName = "direct" | "ws" | "http" | "tus" | "tus peer";
const PATHS: PathName[] = ["direct", "ws", "http", "tus", "tus peer"];

interface Row {
  size: number;
  path: PathName;
  up: number;
  down?: number;
  repeats: number;
  rss: Record<string, number>;
  /** CPU milliseconds per MB (10^6 bytes) moved, per process, uploads and downloads apart. */
  cpuUp: Record<string, number>;
  cpuDown: Record<string, number>;
}

const CPU_PROCS = ["nats-server", "gateway", "files", "load"] as const;
/** Adds `after - before` of each process to `into`. */
function addCpu(into: Record<string, number>, before: Record<string, number>, after: Record<string, number>) {
  for (const k of Object.keys(after)) into[k] = (into[k] ?? 0) + (after[k] - (before[k] ?? 0));
}
const perMb = (cpu: Record<string, number>, bytes: number) => Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, (v * 1000) / (bytes / 1e6)]));

const repeatsFor = (size: number, quick: boolean) => (quick ? 1 : size <= MiB ? 5 : size <= 64 * MiB ? 2 : 1);

/** A file of `size` fresh random bytes. */
function randomFile(dir: string, name: string, size: number): string {
  const file = join(dir, name);
  const fd = openSync(file, "w");
  const buf = Buffer.alloc(Math.min(size, 4 * MiB));
  try {
    for (let left = size; left > 0; left -= buf.length) writeSync(fd, randomFillSync(buf), 0, Math.min(left, buf.length));
  } finally {
    closeSync(fd);
  }
  return file;
}

async function run(ctx: BenchContext): Promise<BenchReport> {
  // BENCH_FILES_SIZES=1,64: sizes in MiB (default 1, 64 and 1024; --quick: 1 and 8).
  const sizes = process.env.BENCH_FILES_SIZES ? process.env.BENCH_FILES_SIZES.split(",").map((n) => Number(n) * MiB) : ctx.quick ? [MiB, 8 * MiB] : [MiB, 64 * MiB, 1024 * MiB];
  await using nats = await startNats({ jetstream: true, bin: ctx.natsBin });
  const dir = mkdtempSync(join(tmpdir(), "bench-files-"));
  const children: Child[] = [];
  const spawn = async (file: string, label: string, env: Record<string, string> = {}) => {
    const c = await spawnChild(new URL(file, import.meta.url), { label, env: { BENCH_NATS_URL: nats.url, NATS_URL: nats.url, ...env } });
    children.push(c);
    return c;
  };
  try {
    ctx.progress("starting gateway (with auth), files, the tus peer and the load process");
    const gateway = await spawn("./procs/services.ts", "gateway", { COLMENA_DATA_DIR: join(dir, "gateway") });
    const files = await spawn("./procs/files-service.ts", "files", {
      COLMENA_FILES_KEY: randomBytes(32).toString("hex"),
      COLMENA_FILES_QUOTA_BYTES: String(1e13),
      COLMENA_DATA_DIR: join(dir, "files"),
      COLMENA_INSTANCE: "bench",
    });
    const peer = await spawn("./peers/tus-server.ts", "peer");
    const load = await spawn("./procs/files-load.ts", "load");
    const httpUrl = `http://127.0.0.1:${gateway.info.http}`;
    await load.call("setup", { wsUrl: `ws://127.0.0.1:${gateway.info.http}/ws`, httpUrl, natsUrl: nats.url, username: `bench_files_${process.pid}`, password: "benchmark-password" });
    const pids = { gateway: gateway.pid, files: files.pid, "nats-server": nats.pid(), peer: peer.pid, load: load.pid };

    const rows: Row[] = [];
    // BENCH_FILES_PATHS=direct,ws: some paths only (quick iterations); direct always runs, the ratios need it.
    const chosen = PATHS.filter((p) => p === "direct" || !process.env.BENCH_FILES_PATHS || process.env.BENCH_FILES_PATHS.split(",").includes(p));
    for (const size of sizes) {
      const repeats = repeatsFor(size, ctx.quick);
      for (const path of chosen) {
        const watch = watchRss(pids);
        const ups: number[] = [];
        const downs: number[] = [];
        const cpuUp: Record<string, number> = {};
        const cpuDown: Record<string, number> = {};
        const cpuPids = Object.fromEntries(CPU_PROCS.map((n) => [n, pids[n]]));
        for (let i = 0; i < repeats; i++) {
          const name = `bench/${path.replace(" ", "-")}-${size}-${i}.bin`;
          const file = randomFile(dir, "upload.bin", size);
          const base = { name, size, file };
          const xfer = (a: Omit<TransferArgs, "name" | "size">) => load.call<TransferResult>("transfer", { ...base, ...a });
          const endpoint = path === "tus peer" ? String(peer.info.url) : `${httpUrl}/v1/tus/`;
          const wire = path === "tus peer" ? "tus" : path;
          const c0 = cpuSnapshot(cpuPids);
          const up = await xfer({ path: wire, direction: "up", endpoint });
          const c1 = cpuSnapshot(cpuPids);
          addCpu(cpuUp, c0, c1);
          ups.push(size / up.seconds / 1e6);
          rmSync(file);
          if (path === "direct" || path === "ws" || path === "http") {
            downs.push(size / (await xfer({ path, direction: "down" })).seconds / 1e6);
            addCpu(cpuDown, c1, cpuSnapshot(cpuPids));
          }
          if (path === "direct") await load.call("dropDirect", name);
        }
        const row: Row = { size, path, up: median(ups), down: downs.length ? median(downs) : undefined, repeats, rss: watch.stop(), cpuUp: perMb(cpuUp, size * repeats), cpuDown: perMb(cpuDown, size * repeats) };
        rows.push(row);
        ctx.progress(`${size / MiB} MiB ${path}: up ${fmt(row.up)} MB/s${row.down ? `, down ${fmt(row.down)} MB/s` : ""}; peak RSS gateway ${fmt(row.rss.gateway / MiB, 0)} MiB, files ${fmt(row.rss.files / MiB, 0)} MiB`);
      }
    }
    const timeouts = await load.call<number>("commitTimeouts");
    return report(rows, ctx.quick, timeouts);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(rows: Row[], quick: boolean, commitTimeouts: number): BenchReport {
  const find = (size: number, path: PathName) => rows.find((r) => r.size === size && r.path === path) ?? { up: NaN, down: NaN };
  const mib = (b: number | undefined) => (b ? fmt(b / MiB, 0) : "-");
  const cpuCell = (c: Record<string, number>) => ["nats-server", "gateway", "files"].map((k) => fmt(c[k] ?? 0, 1)).join(" / ");
  const table = {
    title: "Files: throughput through the gateway against the blob store direct and against @tus/server",
    columns: ["size", "path", "upload MB/s", "x direct", "download MB/s", "x direct", "x @tus/server", "CPU ms/MB up (nats/gw/files)", "CPU ms/MB down (nats/gw/files)", "gateway RSS MiB", "files RSS MiB", "nats-server RSS MiB", "peer RSS MiB"],
    rows: rows.map((r) => {
      const d = find(r.size, "direct");
      const p = find(r.size, "tus peer");
      return [
        r.size >= 1024 * MiB ? `${r.size / 1024 / MiB} GiB` : `${r.size / MiB} MiB`,
        r.path,
        fmt(r.up),
        r.path === "direct" ? "1.00x" : times(ratio(r.up, d.up)),
        r.down === undefined ? "-" : fmt(r.down),
        r.down === undefined ? "-" : r.path === "direct" ? "1.00x" : times(ratio(r.down, d.down!)),
        r.path === "tus" ? times(ratio(r.up, p.up)) : "-",
        cpuCell(r.cpuUp),
        r.down === undefined ? "-" : cpuCell(r.cpuDown),
        mib(r.rss.gateway),
        mib(r.rss.files),
        mib(r.rss["nats-server"]),
        mib(r.rss.peer),
      ];
    }),
  };
  const sizes = [...new Set(rows.map((r) => r.size))];
  const misses: string[] = [];
  for (const r of rows) {
    if (r.path === "direct" || r.path === "tus peer") continue;
    const d = find(r.size, "direct");
    if (ratio(r.up, d.up) < 0.7) misses.push(`${r.path} upload at ${r.size / MiB} MiB (${times(ratio(r.up, d.up))})`);
    if (r.down !== undefined && ratio(r.down, d.down!) < 0.7) misses.push(`${r.path} download at ${r.size / MiB} MiB (${times(ratio(r.down, d.down!))})`);
  }
  const peak = (name: string, size: number) => Math.max(...rows.filter((r) => r.size === size && r.path !== "direct" && r.path !== "tus peer").map((r) => r.rss[name] ?? 0));
  const [small, large] = [sizes[0], sizes[sizes.length - 1]];
  const notes = [
    `direct = the raw JetStream object store client (@nats-io/obj) putting each file as one object and getting it back, straight to the same nats-server, with the store options the files service uses (1 MiB chunks, node:crypto SHA-256): no gateway, no files service, no SHA-256 of the content, no encryption. Colmena's paths hash, encrypt (AES-256-GCM segments) and store through the same nats-server, each byte written once: ws chunks and tus parts are sealed into the blob's final parts as they arrive (the commit writes a manifest), http PUT streams into 1 MiB pieces.`,
    `CPU ms/MB = CPU milliseconds each process spent per MB (10^6 bytes) moved, uploads and downloads apart (/proc, whole row).`,
    `Repeats per row: ${rows.map((r) => `${r.size / MiB} MiB x${r.repeats}`).filter((v, i, a) => a.indexOf(v) === i).join(", ")}; every upload is a fresh random file, so none is deduplicated.`,
    `Target ">= 0.7x direct at every size": ${misses.length ? `not met for ${misses.join("; ")}` : "met"}.`,
    `Target "RSS flat in file size": peak gateway RSS ${mib(peak("gateway", small))} MiB at ${small / MiB} MiB vs ${mib(peak("gateway", large))} MiB at ${large / MiB} MiB; files ${mib(peak("files", small))} MiB vs ${mib(peak("files", large))} MiB${peak("gateway", large) < 200 * MiB && peak("files", large) < 200 * MiB ? " (both under 200 MB)" : ""}.`,
  ];
  if (commitTimeouts) notes.push(`${commitTimeouts} ws upload(s) got \`timeout\` from files.upload.commit (the gateway's request deadline) while the service went on committing; those transfers were timed until files.stat saw the version.`);
  if (quick) notes.push("--quick: sizes 1 and 8 MiB, one repeat; the figures mean nothing.");
  return { tables: [table], notes, data: { rows } };
}

export const filesBenchmark: Benchmark = { name: "files", title: "Files (issue 12): WebSocket chunks, HTTP and tus through the gateway vs the blob store direct and @tus/server", run };
