/**
 * Peak resident memory of named processes over a stretch of a run, sampled
 * from /proc/<pid>/status (VmRSS) every 50 ms (Linux), so a transfer can say
 * how much memory each process of its path used at most while it ran. For
 * the benchmarks and the tests that bound a process's memory.
 */
import { readFileSync } from "node:fs";

/** A process's resident memory in bytes now (0 once it ended). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // the process ended
  }
}

export interface RssWatch {
  /** Stops sampling; the peak RSS in bytes of each process while watched. */
  stop(): Record<string, number>;
}

export function watchRss(pids: Record<string, number | null | undefined>, everyMs = 50): RssWatch {
  const peak: Record<string, number> = {};
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) if (pid) peak[name] = Math.max(peak[name] ?? 0, rssOf(pid));
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}
