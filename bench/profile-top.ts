/**
 * `tsx bench/profile-top.ts <file.cpuprofile> [n]`: the functions that took
 * the most CPU in a V8 profile (as written with BENCH_CPU_PROF=<dir>), by self
 * time and grouped by package or source file, to see where a benchmark's time goes.
 */
import { readFileSync } from "node:fs";

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const [file, nArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: tsx bench/profile-top.ts <file.cpuprofile> [n]");
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

/** `node_modules/@nats-io/nats-core`, `services/tasks/src/worker.ts`, `(program)`... */
function place(url: string): string {
  if (!url) return "(native / V8)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split("/");
    return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith("node:")) return url;
  const m = /(libs|services|bench|cli)\/.*$/.exec(url);
  return m ? m[0] : url;
}

const fns = new Map<string, number>();
const places = new Map<string, number>();
for (const [id, t] of self) {
  const n = byId.get(id)!;
  const where = place(n.callFrame.url);
  const key = `${n.callFrame.functionName || "(anonymous)"} ${where}:${n.callFrame.lineNumber + 1}`;
  fns.set(key, (fns.get(key) ?? 0) + t);
  places.set(where, (places.get(where) ?? 0) + t);
}
const top = (m: Map<string, number>, n: number) =>
  [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, t]) => `${((t / total) * 100).toFixed(1).padStart(5)}%  ${k}`).join("\n");
const n = Number(nArg ?? 25);
// A profile directory holds two files (the main thread's and tsx's loader's): a glob would pass the second as n.
if (!Number.isInteger(n) || n <= 0) {
  console.error(`n must be a positive integer, not ${nArg}: give one file (the larger is the main thread's)`);
  process.exit(2);
}
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled\n\nby place:\n${top(places, 15)}\n\nby function (self time):\n${top(fns, n)}`);
