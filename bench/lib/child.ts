/**
 * Child processes for the benchmarks: a TypeScript file run with tsx, driven
 * over the IPC channel by named commands. The services under test and the
 * load generator live in separate processes so that neither steals the other's
 * event loop (they still share the machine's cores; the report says so).
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

interface Call { id: number; cmd: string; arg: unknown }
type Answer = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface Child {
  readonly label: string;
  readonly pid: number;
  /** What the child sent with its ready message (ports, ids). */
  readonly info: Record<string, unknown>;
  /** Runs a named command in the child and resolves with its result. */
  call<T = unknown>(cmd: string, arg?: unknown): Promise<T>;
  /** Asks the child to stop (the `stop` command, then SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  label: string;
  env?: Record<string, string | undefined>;
  /** Extra node flags, e.g. `--expose-gc`. */
  nodeArgs?: string[];
  args?: string[];
  /** Milliseconds to wait for the ready message. */
  readyTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of live) if (p.exitCode === null) p.kill("SIGKILL");
});

/** Forks `file` (a path or a `new URL(..., import.meta.url)`) under tsx and waits for it to report ready. */
export function spawnChild(file: string | URL, o: SpawnOptions): Promise<Child> {
  const path = typeof file === "string" ? file : fileURLToPath(file);
  // BENCH_CPU_PROF=<dir> writes V8 CPU profiles of every child to <dir>/<label>-<time>/, one per thread
  // (tsx's loader runs in a second thread; the main thread's profile is the larger file).
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${o.label}-${Date.now()}`] : [];
  const proc = fork(path, o.args ?? [], {
    execArgv: ["--import", "tsx", ...prof, ...(o.nodeArgs ?? [])],
    env: { ...process.env, ...o.env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  live.add(proc);
  let seq = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  proc.once("exit", (code, signal) => {
    live.delete(proc);
    for (const w of waiting.values()) w.reject(new Error(`${o.label} exited (${code ?? signal}) during a call`));
    waiting.clear();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${o.label} did not report ready in time`));
    }, o.readyTimeoutMs ?? 60_000);
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${o.label} exited (${code ?? signal}) before it was ready`));
    });
    proc.on("message", (m: { ready?: Record<string, unknown> } & Partial<Answer>) => {
      if (m.ready) {
        clearTimeout(timer);
        resolve(child(m.ready));
        return;
      }
      const w = waiting.get(m.id!);
      if (!w) return;
      waiting.delete(m.id!);
      if (m.ok) w.resolve((m as { result: unknown }).result);
      else w.reject(new Error(`${o.label}: ${(m as { error: string }).error}`));
    });
  });

  function child(info: Record<string, unknown>): Child {
    return {
      label: o.label,
      pid: proc.pid!,
      info,
      call<T>(cmd: string, arg?: unknown) {
        const id = ++seq;
        return new Promise<T>((res, rej) => {
          waiting.set(id, { resolve: res as (v: unknown) => void, reject: rej });
          proc.send({ id, cmd, arg } satisfies Call);
        });
      },
      async stop() {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        const call = this.call("stop").catch(() => undefined);
        const soft = setTimeout(() => proc.kill("SIGTERM"), 10_000);
        const hard = setTimeout(() => proc.kill("SIGKILL"), 15_000);
        await Promise.race([exited, call.then(() => exited)]);
        clearTimeout(soft);
        clearTimeout(hard);
      },
    };
  }
}

export type Handlers = Record<string, (arg: any) => unknown>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The child's side: announces `info` as ready, then runs each command with
 * its handler. A `stop` handler, if given, runs before the process exits. The
 * child exits when its parent goes away, so a crashed benchmark leaves nothing behind.
 */
export function serveParent(info: Record<string, unknown>, handlers: Handlers): void {
  if (!process.send) throw new Error("serveParent: not started as a child with an IPC channel");
  process.on("disconnect", () => process.exit(0));
  process.on("message", async (m: Call) => {
    const reply = (a: Answer) => process.send?.(a);
    try {
      const h = handlers[m.cmd];
      if (!h && m.cmd !== "stop") throw new Error(`unknown command ${m.cmd}`);
      const result = h ? await h(m.arg) : undefined;
      reply({ id: m.id, ok: true, result: result ?? null });
      if (m.cmd === "stop") setImmediate(() => process.exit(0));
    } catch (e) {
      reply({ id: m.id, ok: false, error: e instanceof Error ? e.stack ?? e.message : String(e) });
    }
  });
  process.send({ ready: info });
}

/** A child's memory right now, after a full collection when the child runs with `--expose-gc`. */
export function memoryNow(): { rss: number; heapUsed: number; external: number; arrayBuffers: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) { gc(); gc(); }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}
