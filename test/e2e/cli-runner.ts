/**
 * The one way the end-to-end tests run the `colmena` command: Node with tsx
 * on cli/src/main.ts, with a COLMENA_HOME of its own (its stored tokens,
 * keys and uploads), against one system's gateway. A `Cli` is one person's
 * home; `using` removes it.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "@colmena/runtime";

/** The argv after `node` that runs `colmena <args>`. */
export function cliArgv(args: string[]): string[] {
  return ["--import", "tsx", join(repoRoot(), "cli/src/main.ts"), ...args];
}

export interface CliResult { code: number | null; stdout: string; stderr: string }

export interface CliOptions {
  /** What `COLMENA_PASSWORD` answers the password prompt with ("cli-password"). */
  password?: string;
}

export interface RunOptions {
  /** Variables to set (or, as undefined, unset) for this run only. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export class Cli implements Disposable {
  readonly home = mkdtempSync(join(tmpdir(), "colmena-cli-"));
  readonly env: NodeJS.ProcessEnv;

  constructor(gatewayUrl: string, opts: CliOptions = {}) {
    this.env = { ...process.env, COLMENA_HOME: this.home, COLMENA_URL: gatewayUrl, COLMENA_PASSWORD: opts.password ?? "cli-password" };
  }

  /** Starts `colmena <args>` off a terminal; the caller may read, kill or `finished` it. */
  spawn(args: string[], opts: RunOptions = {}): ChildProcess {
    return spawn(process.execPath, cliArgv(args), { cwd: repoRoot(), env: { ...this.env, ...opts.env } });
  }

  /** Runs `colmena <args>` to its end (killed after `timeoutMs`, 60 s). */
  run(args: string[], opts: RunOptions = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      const env = { ...this.env, ...opts.env };
      execFile(process.execPath, cliArgv(args), { cwd: repoRoot(), timeout: opts.timeoutMs ?? 60_000, env, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });
  }

  /** Runs it and gives its stdout; any other exit than 0 throws with its stderr. */
  async ok(args: string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new Error(`colmena ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Runs it and parses its stdout as JSON (the CLI's output off a terminal). */
  async json<T = any>(args: string[]): Promise<T> {
    return JSON.parse(await this.ok(args)) as T;
  }

  [Symbol.dispose](): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}

/** A started `colmena` process: what it printed so far, and its end. */
export interface Running {
  stdout(): string;
  stderr(): string;
  /** Its exit, with all it printed; past the timeout it is killed. */
  exit: Promise<CliResult>;
}

/**
 * Follows a started `colmena` process; past `timeoutMs` (90 s) it is killed,
 * so a hung command fails its test instead of holding the file to the
 * runner's timeout.
 */
export function running(child: ChildProcess, timeoutMs = 90_000): Running {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const exit = new Promise<CliResult>((resolve) => {
    const timer = setTimeout(() => { stderr += `\n(killed after ${timeoutMs} ms)`; child.kill("SIGKILL"); }, timeoutMs);
    child.once("exit", (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
  return { stdout: () => stdout, stderr: () => stderr, exit };
}

/** Waits for a started `colmena` process to exit (`running(...).exit`). */
export function finished(child: ChildProcess, timeoutMs?: number): Promise<CliResult> {
  return running(child, timeoutMs).exit;
}
