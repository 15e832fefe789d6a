/**
 * Where the CPU goes: processor time of whole process trees, read from
 * /proc (Linux), so that a run can say how many CPU microseconds each process
 * (nats-server, the gateway's process, a worker, redis-server, the load
 * generator) spent per request. On two shared cores this, more than latency,
 * shows which process is the bottleneck.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let ticksPerSecond = 100;
try {
  ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch { /* the Linux default */ }

interface ProcStat { ppid: number; ticks: number }

function readAll(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, "utf8");
      // The command name may hold spaces and parentheses; the fields after the last ')' are fixed.
      const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
      // utime, stime, and cutime, cstime (children already reaped, e.g. a pool's exited workers).
      out.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch { /* the process ended while we looked */ }
  }
  return out;
}

/** CPU seconds used so far by each named process and all its live descendants. */
export function cpuSnapshot(pids: Record<string, number | null | undefined>): Record<string, number> {
  const all = readAll();
  const children = new Map<number, number[]>();
  for (const [pid, s] of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  const treeTicks = (pid: number): number => (all.get(pid)?.ticks ?? 0) + (children.get(pid) ?? []).reduce((a, c) => a + treeTicks(c), 0);
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) if (pid) out[name] = treeTicks(pid) / ticksPerSecond;
  return out;
}

/** `after - before` per process, in CPU microseconds per operation. */
export function cpuPerOp(before: Record<string, number>, after: Record<string, number>, ops: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(after)) out[k] = ops > 0 ? ((after[k] - (before[k] ?? 0)) * 1e6) / ops : NaN;
  return out;
}
