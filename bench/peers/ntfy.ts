/**
 * ntfy, the notify benchmark's peer: Debian forky's (else sid's) package,
 * fetched into `.colmena/bin` the way nats-server is (libs/runtime
 * fetchDebianBinary: temporary apt lists, nothing installed system-wide),
 * and started on a free port with a temp config and message cache (its
 * SQLite store, as a real ntfy keeps). Its visitor limits are lifted for
 * localhost: the benchmark measures delivery, not its rate limiter.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { colmenaHome, fetchDebianBinary } from "@colmena/runtime";
import { freePort } from "@colmena/testing";

export interface Ntfy {
  readonly pid: number;
  readonly url: string;
  readonly version: string;
  stop(): Promise<void>;
}

export function ensureNtfy(progress: (l: string) => void): string {
  const dest = join(colmenaHome(), "bin", "ntfy");
  if (existsSync(dest)) return dest;
  const bin = fetchDebianBinary({ pkg: "ntfy", paths: ["usr/bin/ntfy"], suites: ["forky", "sid"], dest }, progress);
  if (!bin) throw new Error("could not fetch ntfy from Debian forky or sid (needs apt-get, dpkg and a Debian mirror)");
  return bin;
}

export async function startNtfy(progress: (l: string) => void, subscribers: number): Promise<Ntfy> {
  const bin = ensureNtfy(progress);
  const version = /\d+\.\d+\.\d+/.exec(execFileSync(bin, ["--help"], { encoding: "utf8" }))?.[0] ?? "unknown";
  const dir = mkdtempSync(join(tmpdir(), "colmena-ntfy-"));
  const port = await freePort();
  const config = join(dir, "server.yml");
  writeFileSync(config, [
    `listen-http: "127.0.0.1:${port}"`,
    `cache-file: "${join(dir, "cache.db")}"`,
    `visitor-subscription-limit: ${subscribers + 100}`,
    `visitor-request-limit-exempt-hosts: "127.0.0.1"`,
    `visitor-message-daily-limit: 100000000`,
    `log-level: warn`,
  ].join("\n") + "\n");
  const proc = spawn(bin, ["serve", "-c", config], { stdio: ["ignore", "ignore", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`ntfy exited (${proc.exitCode}) at start`);
    const up = await fetch(`${url}/v1/health`).then((r) => r.ok, () => false);
    if (up) break;
    if (i > 100) throw new Error("ntfy did not start in 10 s");
    await sleep(100);
  }
  return {
    pid: proc.pid!,
    url,
    version,
    async stop() {
      if (proc.exitCode === null) {
        const gone = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await Promise.race([gone, sleep(5000).then(() => proc.kill("SIGKILL"))]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
