/**
 * `npm run bench` (`tsx bench/main.ts [--only <name>] [--quick] [--nats <bin>]...`):
 * runs each benchmark, prints its tables as Markdown, and writes everything
 * measured to bench/results/<name>-<timestamp>.json. Each `--nats` names a
 * nats-server binary: every benchmark then runs once on each, in one run, so
 * server versions are compared side by side (the installed one by default). Benchmarks compare Colmena with its
 * baseline or peer in the same run; they are never part of `npm test`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { natsVersion, ensureNatsServer } from "@colmena/runtime";
import { filesBenchmark } from "./files.ts";
import { gatewayBenchmark } from "./gateway.ts";
import { tasksBenchmark } from "./tasks.ts";
import { chatBenchmark } from "./chat.ts";
import { renderTable, type Benchmark } from "./lib/report.ts";

const benchmarks: Benchmark[] = [gatewayBenchmark, tasksBenchmark, chatBenchmark, filesBenchmark];

interface Args {
  only?: string;
  quick: boolean;
  nats: string[];
}

function parseArgs(argv: string[]): Args {
  const out: Args = { quick: false, nats: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") out.quick = true;
    else if (a === "--only") out.only = argv[++i];
    else if (a.startsWith("--only=")) out.only = a.slice(7);
    else if (a === "--nats") out.nats.push(argv[++i]);
    else if (a === "--help" || a === "-h") {
      console.log(`usage: tsx bench/main.ts [--only ${benchmarks.map((b) => b.name).join("|")}] [--quick] [--nats <nats-server binary>]...`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const chosen = benchmarks.filter((b) => !args.only || b.name === args.only);
  if (chosen.length === 0) throw new Error(`no benchmark named ${args.only}; have ${benchmarks.map((b) => b.name).join(", ")}`);
  const resultsDir = join(fileURLToPath(new URL(".", import.meta.url)), "results");
  mkdirSync(resultsDir, { recursive: true });
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
  // Each binary with its version; no --nats: the installed server alone.
  const servers = (args.nats.length ? args.nats : [ensureNatsServer()]).map((bin) => ({ bin, version: natsVersion(bin)?.join(".") ?? "unknown" }));
  const bins = args.nats.length ? servers : [{ bin: undefined, version: servers[0].version }];
  console.log(`# Colmena benchmarks${args.quick ? " (--quick smoke run: figures mean nothing)" : ""}\n`);
  console.log(`${new Date().toISOString()} · ${machine.cpus} cores (${machine.cpu}) · ${machine.memGiB} GiB · node ${machine.node} · nats-server ${servers.map((s) => s.version).join(", ")}\n`);
  let failed = false;
  for (const b of chosen) for (const server of bins) {
    const started = new Date();
    const onServer = bins.length > 1 ? ` (nats-server ${server.version})` : "";
    console.log(`## ${b.title}${onServer}\n`);
    try {
      const loadBefore = loadavg();
      const report = await b.run({ quick: args.quick, natsBin: server.bin, progress: (l) => process.stderr.write(`[${b.name}${onServer} +${((Date.now() - started.getTime()) / 1000).toFixed(1)}s] ${l}\n`) });
      for (const t of report.tables) console.log(renderTable(t) + "\n");
      const load = { before: loadBefore.map((l) => Math.round(l * 100) / 100), after: loadavg().map((l) => Math.round(l * 100) / 100) };
      for (const n of report.notes) console.log(`- ${n}`);
      console.log(`- Load average (1/5/15 min) before: ${load.before.join(" / ")}, after: ${load.after.join(" / ")} (anything above ~1 before the run means another workload shared the cores).`);
      console.log();
      const file = join(resultsDir, `${b.name}-${bins.length > 1 ? `nats${server.version}-` : ""}${started.toISOString().replace(/[:.]/g, "-")}.json`);
      const command = `tsx bench/main.ts ${process.argv.slice(2).join(" ")}`.trim();
      writeFileSync(file, JSON.stringify({ name: b.name, startedAt: started.toISOString(), quick: args.quick, command, machine: { ...machine, nats: server.version }, load, ...report }, null, 2));
      console.log(`(raw figures: ${file})\n`);
    } catch (e) {
      failed = true;
      console.log(`**${b.name} failed:** ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}

await main();
