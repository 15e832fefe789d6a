/**
 * The peers' infrastructure for the tasks benchmark: Debian packages installed
 * on demand (redis-server, python3-celery; the benchmark runs as root on a
 * Debian-family machine) and a throwaway redis-server on a free port with its
 * data in a temp dir, at a chosen persistence level.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "@colmena/testing";

/** Installs the Debian packages whose marker file is missing (`apt-get install -y`); throws with a hint when it cannot. */
export function ensureDebianPackages(pkgs: { name: string; marker: string }[], progress: (l: string) => void): void {
  const missing = pkgs.filter((p) => !existsSync(p.marker));
  if (missing.length === 0) return;
  const names = missing.map((p) => p.name);
  progress(`installing ${names.join(", ")} with apt-get (one-off)`);
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    try {
      execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...names], { stdio: ["ignore", "ignore", "pipe"], env });
    } catch {
      execFileSync("apt-get", ["update"], { stdio: ["ignore", "ignore", "pipe"], env });
      execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...names], { stdio: ["ignore", "ignore", "pipe"], env });
    }
  } catch (e) {
    throw new Error(`could not install ${names.join(", ")} (needs root and apt-get): ${e instanceof Error ? e.message : e}`);
  }
}

/** `default`: Redis's shipped persistence (RDB snapshots, no AOF); `always`: `appendonly yes` + `appendfsync always`. */
export type RedisDurability = "default" | "always";

export interface Redis {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

export async function startRedis(durability: RedisDurability): Promise<Redis> {
  const dir = mkdtempSync(join(tmpdir(), "colmena-bench-redis-"));
  const port = await freePort();
  const conf = [
    `port ${port}`,
    "bind 127.0.0.1",
    `dir ${dir}`,
    "daemonize no",
    "save 3600 1 300 100 60 10000", // Redis 7's built-in default snapshot schedule, written out
    durability === "always" ? "appendonly yes\nappendfsync always" : "appendonly no",
    "logfile \"\"",
    "loglevel warning",
  ].join("\n");
  writeFileSync(join(dir, "redis.conf"), conf + "\n");
  const proc: ChildProcess = spawn("redis-server", [join(dir, "redis.conf")], { stdio: ["ignore", "ignore", "inherit"] });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if (execFileSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() === "PONG") break;
    } catch { /* not up yet */ }
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
    await sleep(50);
  }
  return {
    pid: proc.pid!,
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        const hard = setTimeout(() => proc.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(hard);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
