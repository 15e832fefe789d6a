/**
 * The runner's own nats-server: JetStream in `$COLMENA_HOME/nats`, durable
 * writes by default (`sync_interval: always`, design.md section 8), on fixed
 * ports unless 0 is asked for. It runs in its own process group so that
 * Ctrl-C reaches only the runner, which stops it last, after the services.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureNatsServer, natsConfig } from "@colmena/runtime";

/** A failure the runner explains in one sentence and exits 1 on. */
export class RunnerError extends Error {
  override name = "RunnerError";
}

export interface LocalNats {
  url: string;
  monitorUrl: string;
  pid: number;
  bin: string;
  stop(): Promise<void>;
}

export interface LocalNatsOptions {
  home: string;
  port: number;
  monitorPort: number;
  /** The COLMENA_NATS_SYNC setting: `always`, a duration, or null for the server's default. */
  sync: string | null;
  log: (line: string) => void;
}

function portFree(port: number): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a nats-server that an earlier run left behind (killed before it could clean up). */
async function stopLeftover(pidFile: string, conf: string, log: (s: string) => void): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  rmSync(pidFile, { force: true });
  if (!pid || !alive(pid)) return;
  let cmdline = "";
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return; // cannot tell what it is: leave it alone
  }
  if (!cmdline.includes("nats-server") || !cmdline.includes(conf)) return;
  log(`stopping the nats-server an earlier run left behind (pid ${pid})`);
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
  if (alive(pid)) process.kill(pid, "SIGKILL");
}

async function waitReady(portsDir: string, proc: ChildProcess, logFile: string): Promise<{ url: string; monitorUrl: string }> {
  const deadline = Date.now() + 30_000;
  let ports: { url: string; monitorUrl: string } | null = null;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").trim().split("\n").slice(-3).join(" | ") : "";
      throw new RunnerError(`nats-server exited at start (${tail || `code ${proc.exitCode}`}); its log is ${logFile}`);
    }
    if (!ports) {
      const f = readdirSync(portsDir).find((n) => n.endsWith(".ports"));
      if (f) {
        try {
          const p = JSON.parse(readFileSync(join(portsDir, f), "utf8")) as { nats: string[]; monitoring: string[] };
          ports = { url: p.nats[0], monitorUrl: p.monitoring[0] };
        } catch { /* half-written */ }
      }
    } else {
      try {
        const r = await fetch(`${ports.monitorUrl}/healthz?js-enabled-only=true`);
        if (r.ok) return ports;
      } catch { /* not yet */ }
    }
    await sleep(50);
  }
  throw new RunnerError(`nats-server did not become healthy in 30 s; its log is ${logFile}`);
}

/** Starts nats-server for the runner; throws RunnerError with a one-sentence reason. */
export async function startLocalNats(o: LocalNatsOptions): Promise<LocalNats> {
  let bin: string;
  try {
    bin = ensureNatsServer(o.log);
  } catch (err) {
    throw new RunnerError((err as Error).message);
  }
  const dir = join(o.home, "nats");
  const portsDir = join(dir, "ports");
  mkdirSync(portsDir, { recursive: true });
  const conf = join(dir, "nats.conf");
  const pidFile = join(dir, "nats.pid");
  const logFile = join(dir, "nats.log");
  await stopLeftover(pidFile, conf, o.log);
  for (const [port, what, env] of [[o.port, "NATS", "COLMENA_NATS_PORT"], [o.monitorPort, "NATS monitoring", "COLMENA_NATS_MONITOR_PORT"]] as const) {
    if (!(await portFree(port)))
      throw new RunnerError(
        `Port ${port} (${what}) is already taken, probably by another nats-server: stop it, choose another port with ${env}, or set NATS_URL=nats://127.0.0.1:${o.port} to use the server that is there.`,
      );
  }
  for (const f of readdirSync(portsDir)) rmSync(join(portsDir, f), { force: true });
  const sync = o.sync ?? "lazy";
  // nats-server takes -1 for "any free port"; 0 would mean its default port.
  writeFileSync(conf, natsConfig({ serverName: "colmena-local", port: o.port || -1, monitorPort: o.monitorPort || -1, storeDir: join(dir, "js"), sync }));
  o.log(`starting ${bin} (JetStream in ${join(dir, "js")}, log ${logFile}) ...`);
  const out = openSync(logFile, "a");
  const proc = spawn(bin, ["-c", conf, "--ports_file_dir", portsDir], { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  const pid = proc.pid!;
  writeFileSync(pidFile, String(pid));
  // If the runner dies without stopping it, take the server down with it.
  const onExit = () => { try { process.kill(pid, "SIGKILL"); } catch { /* gone */ } };
  process.on("exit", onExit);
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const stop = async () => {
    process.off("exit", onExit);
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      const hard = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(hard);
    }
    rmSync(pidFile, { force: true });
  };
  try {
    const { url, monitorUrl } = await waitReady(portsDir, proc, logFile);
    return { url, monitorUrl, pid, bin, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
