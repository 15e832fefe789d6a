/**
 * Runs the Celery peer from Node: the worker (Debian's python3-celery, on the
 * benchmark's Redis) and the client script, whose JSON output is the run's
 * raw result. Both are Python processes started from bench/peers/.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LoadResult } from "../lib/load.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
/** Debian's interpreter, which sees the python3-celery and python3-redis packages (a pyenv `python3` on PATH may not). */
export const PYTHON = "/usr/bin/python3";

/** The Debian packages the Celery peer needs, with a file each installs. */
export const CELERY_PACKAGES = [
  { name: "python3-celery", marker: "/usr/lib/python3/dist-packages/celery/__init__.py" },
  { name: "python3-redis", marker: "/usr/lib/python3/dist-packages/redis/__init__.py" },
];

export interface CeleryWorker {
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts `celery worker` with `concurrency` prefork processes; the client's warm-up doubles as the readiness check. */
export function startCeleryWorker(redisUrl: string, concurrency: number): CeleryWorker {
  const proc: ChildProcess = spawn(PYTHON, ["-m", "celery", "-A", "celery_app", "worker", "--loglevel=WARNING", `--concurrency=${concurrency}`, "--without-gossip", "--without-mingle", "--without-heartbeat"], {
    cwd: here,
    env: { ...process.env, BENCH_REDIS_URL: `${redisUrl}/0` },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true, // its own process group, so a hard stop also reaches the prefork children
  });
  // Celery warns at length about running as root; keep its output, show it only if the worker dies early.
  let output = "";
  proc.stderr!.on("data", (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
  proc.once("exit", (code, signal) => {
    if (!stopping) process.stderr.write(`celery worker exited (${code ?? signal}) before it was stopped:\n${output}\n`);
  });
  let stopping = false;
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return {
    pid: proc.pid!,
    stop: async () => {
      stopping = true;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM"); // warm shutdown: the main process stops its children
      const hard = setTimeout(() => { try { process.kill(-proc.pid!, "SIGKILL"); } catch { /* gone */ } }, 10_000);
      await exited;
      clearTimeout(hard);
    },
  };
}

/** Runs the Celery client: `clients` processes, `total` tasks after `warmupPerClient` each. */
export function runCeleryClients(redisUrl: string, total: number, clients: number, warmupPerClient: number): Promise<LoadResult & { cpu_s: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      ["celery_client.py", String(total), String(clients), String(warmupPerClient)],
      { cwd: here, env: { ...process.env, BENCH_REDIS_URL: `${redisUrl}/0` }, maxBuffer: 64 << 20, timeout: 600_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`celery client failed: ${err.message}\n${stderr.slice(-2000)}`));
        resolve(JSON.parse(stdout.trim().split("\n").pop()!) as LoadResult & { cpu_s: number });
      },
    );
  });
}
