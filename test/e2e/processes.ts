/**
 * Colmena processes as an operator runs them: each service's own main.ts
 * in its own Node process (as the Dockerfile's entrypoint does), with its
 * own environment, stopped by a real signal. For every test that needs a
 * part in a process of its own (to kill it, or to measure its memory).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { repoRoot } from "@colmena/runtime";
import { freePort, waitUntil } from "@colmena/testing";

export interface ServiceProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  /** The port of `/healthz` and `/readyz` (the gateway's HTTP port, or `COLMENA_HEALTH_PORT`). */
  readonly healthPort: number;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** What the process wrote, for failure messages. */
  output(): string;
  signal(sig: NodeJS.Signals): void;
  /** HTTP status of a path on the health port (0 when nothing answers). */
  status(path: string): Promise<number>;
}

export interface SpawnOptions {
  name: string;
  /** The command after `node --import tsx`, as compose and the manifests give it: `["services/tasks/src/main.ts", "--role", "api"]`. */
  command: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Wait for `/readyz` (default), only `/healthz`, or until the process logs one of `logged` (a part started without what its `/readyz` waits for). */
  wait?: "ready" | "healthy" | "none" | { logged: readonly string[] };
  timeoutMs?: number;
}

export async function httpStatus(port: number, path: string): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Starts one service process; resolves once it answers its probe. */
export async function spawnService(opts: SpawnOptions): Promise<ServiceProcess> {
  const isGateway = opts.command[0].includes("gateway");
  const healthPort = Number((isGateway ? opts.env.COLMENA_HTTP_PORT : opts.env.COLMENA_HEALTH_PORT) || 0) || (await freePort());
  const env: NodeJS.ProcessEnv = { ...opts.env, [isGateway ? "COLMENA_HTTP_PORT" : "COLMENA_HEALTH_PORT"]: String(healthPort) };
  const proc = spawn(process.execPath, ["--import", "tsx", ...opts.command], { cwd: repoRoot(), env, stdio: ["ignore", "pipe", "pipe"] });
  const wait = opts.wait ?? "ready";
  const logged = typeof wait === "object" ? wait.logged : [];
  let out = "";
  let saidReady = false;
  const keep = (b: Buffer) => {
    out = out + b.toString();
    saidReady ||= logged.some((line) => out.includes(line));
    out = out.slice(-20_000);
  };
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  const exited = new Promise<number | string>((resolve) => proc.once("exit", (code, sig) => resolve(code ?? sig ?? -1)));
  const sp: ServiceProcess = {
    name: opts.name,
    proc,
    healthPort,
    exited,
    output: () => out,
    signal: (sig) => void (proc.exitCode === null && proc.signalCode === null && proc.kill(sig)),
    status: (path) => httpStatus(healthPort, path),
  };
  if (wait !== "none") {
    let gone = false;
    void exited.then(() => (gone = true));
    const path = wait === "ready" ? "/readyz" : "/healthz";
    const what = typeof wait === "object" ? `logging ${logged.join(" or ")}` : path;
    const up = typeof wait === "object" ? async () => saidReady : async () => (await sp.status(path)) === 200;
    try {
      await waitUntil(`${opts.name} ${what}`, async () => gone || (await up()), opts.timeoutMs ?? 30_000);
    } catch (err) {
      sp.signal("SIGKILL");
      throw new Error(`${opts.name} was not up (${what}) in time: ${(err as Error).message}\n${out}`);
    }
    if (gone) throw new Error(`${opts.name} exited while starting (${await exited}):\n${out}`);
  }
  return sp;
}

/** SIGKILLs whatever is still running (test cleanup). */
export async function killAll(procs: Iterable<ServiceProcess>): Promise<void> {
  const list = [...procs];
  for (const p of list) p.signal("SIGKILL");
  await Promise.all(list.map((p) => p.exited));
}

export const repoPath = (...parts: string[]) => join(repoRoot(), ...parts);

/** `${VAR:-default}` and `${VAR}` as compose interpolates them (from `vars`, else the default). */
export function interpolate(value: string, vars: Record<string, string | undefined> = {}): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_, name: string, def?: string) => vars[name] || def || "");
}

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  depends_on?: string[];
  volumes?: string[];
}

/** docker-compose.yml as compose reads it (merge keys resolved). */
export function readCompose(): { services: Record<string, ComposeService>; volumes: Record<string, unknown> } {
  return parse(readFileSync(join(repoRoot(), "docker-compose.yml"), "utf8"), { merge: true });
}

