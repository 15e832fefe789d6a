/**
 * Starting and stopping one nats-server process: the one launcher the local
 * runner and libs/testing share. The caller writes the config (natsConfig);
 * the launcher spawns the server with a ports file (so `-1` ports work), waits
 * until it listens and its `/healthz` answers, and stops it with SIGTERM,
 * escalated to SIGKILL when it does not exit in time. A process that outlives
 * its launcher's Node process would hold ports and a JetStream store: every
 * running server is SIGKILLed when Node exits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface NatsLaunchOptions {
  bin: string;
  /** The config file to run. */
  config: string;
  /** Where the server writes `<executable name>_<pid>.ports`; emptied first. */
  portsDir: string;
  /** Append the server's output to this file; otherwise its last 20 KB are kept in memory. */
  logFile?: string;
  /** Also copy the output to this process's stderr (debugging tests). */
  echo?: boolean;
  /** Its own process group, so a Ctrl-C to the terminal reaches only the caller, which stops it. */
  detached?: boolean;
  /** The readiness probe, default `/healthz` (also waits for JetStream to be current). */
  healthPath?: string;
  /** How long to wait for readiness, default 30 s. */
  startTimeoutMs?: number;
  /** Called as soon as the process exists (the runner records its pid file then). */
  onSpawn?: (pid: number) => void;
}

/** How a nats-server ended. nats-server 2.11 and later exit 0 after SIGTERM or SIGINT (2.10 exited 1 on SIGTERM). */
export interface NatsExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Exit code 0: it shut down on its own terms (flushed JetStream, closed its store). */
  clean: boolean;
}

export interface NatsProcess {
  readonly pid: number;
  readonly url: string;
  readonly monitorUrl: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<NatsExit>;
  running(): boolean;
  /** The last lines of its output (from memory or the log file). */
  outputTail(lines?: number): string;
  /** Sends `signal` (SIGTERM by default; SIGKILL simulates a crash), SIGKILL after `graceMs`; resolves with how it ended. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<NatsExit>;
}

/** nats-server did not start: the message says why, with the end of its output. */
export class NatsStartError extends Error {
  override name = "NatsStartError";
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function killAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const p of live) try { p.kill("SIGKILL"); } catch { /* gone already */ }
  });
}

/** Whether a process with this pid exists (signal 0). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a process that is not our child (a server an earlier run left
 * behind): SIGTERM, then SIGKILL after `graceMs`.
 */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!processAlive(pid)) return;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (processAlive(pid) && Date.now() < deadline) await sleep(100);
  if (processAlive(pid)) process.kill(pid, "SIGKILL");
}

export async function launchNats(o: NatsLaunchOptions): Promise<NatsProcess> {
  mkdirSync(o.portsDir, { recursive: true });
  for (const f of readdirSync(o.portsDir)) rmSync(join(o.portsDir, f), { force: true });
  let memory = "";
  const fd = o.logFile ? openSync(o.logFile, "a") : null;
  const out = fd ?? "pipe";
  const proc = spawn(o.bin, ["-c", o.config, "--ports_file_dir", o.portsDir], { detached: o.detached, stdio: ["ignore", out, out] });
  if (fd !== null) closeSync(fd);
  const keep = (b: Buffer) => {
    memory = (memory + b.toString()).slice(-20_000);
    if (o.echo) process.stderr.write(b);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const exited = new Promise<NatsExit>((resolve) => {
    proc.once("exit", (code, signal) => {
      live.delete(proc);
      resolve({ code, signal, clean: code === 0 });
    });
  });
  if (proc.pid === undefined) {
    // spawn failed (no such binary): the error event says why.
    const err = await new Promise<Error>((r) => proc.once("error", r));
    throw new NatsStartError(`cannot run ${o.bin}: ${err.message}`);
  }
  proc.on("error", () => { /* a failed kill of an exited process: its exit was reported already */ });
  live.add(proc);
  killAllOnExit();
  const pid = proc.pid;
  o.onSpawn?.(pid);
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const outputTail = (lines = 3) => {
    const text = o.logFile ? (existsSync(o.logFile) ? readFileSync(o.logFile, "utf8") : "") : memory;
    return text.trim().split("\n").slice(-lines).join(" | ");
  };
  const stop = async (signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<NatsExit> => {
    if (running()) {
      proc.kill(signal);
      const hard = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(hard);
    }
    return exited;
  };
  try {
    const ports = await waitReady(o, proc, pid, outputTail);
    return { pid, url: ports.url, monitorUrl: ports.monitorUrl, exited, running, outputTail, stop };
  } catch (err) {
    // A server that started but never got ready must not outlive the failure.
    await stop("SIGKILL");
    throw err;
  }
}

async function waitReady(o: NatsLaunchOptions, proc: ChildProcess, pid: number, tail: () => string): Promise<{ url: string; monitorUrl: string }> {
  const timeoutMs = o.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  // nats-server names the file after its own executable: `NATS_SERVER_BIN=/opt/nats-2.15` writes `nats-2.15_<pid>.ports`.
  const file = join(o.portsDir, `${basename(o.bin)}_${pid}.ports`);
  const where = o.logFile ? `; its log is ${o.logFile}` : "";
  let ports: { url: string; monitorUrl: string } | null = null;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new NatsStartError(`nats-server exited at start (${tail() || `code ${proc.exitCode}`})${where}`);
    }
    if (!ports && existsSync(file)) {
      try {
        const p = JSON.parse(readFileSync(file, "utf8")) as { nats: string[]; monitoring?: string[] };
        if (!p.monitoring?.[0]) throw new NatsStartError("the nats-server config has no monitoring port (http), which the launcher needs for /healthz");
        ports = { url: p.nats[0], monitorUrl: p.monitoring[0] };
      } catch (err) {
        if (err instanceof NatsStartError) throw err;
        /* half-written */
      }
    }
    if (ports) {
      try {
        const r = await fetch(`${ports.monitorUrl}${o.healthPath ?? "/healthz"}`);
        if (r.ok) return ports;
      } catch { /* not yet */ }
    }
    await sleep(ports ? 50 : 20);
  }
  throw new NatsStartError(`nats-server did not become ready in ${timeoutMs / 1000} s (${tail()})${where}`);
}
