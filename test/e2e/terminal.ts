/**
 * A `colmena` command in a pseudo-terminal (util-linux `script`), for tests
 * that drive the interactive CLI as a person would: what it printed, and keys
 * typed into it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { repoRoot } from "@colmena/runtime";
import { waitUntil } from "@colmena/testing";
import { cliArgv } from "./cli-runner.ts";

/** A `colmena` process in a pseudo-terminal: what it printed, and keys typed into it. */
export class Terminal {
  out = "";
  private readonly proc: ChildProcess;
  constructor(args: string[], env: NodeJS.ProcessEnv) {
    const cmd = [process.execPath, ...cliArgv(args)].map((a) => `'${a}'`).join(" ");
    this.proc = spawn("script", ["-qfec", cmd, "/dev/null"], { cwd: repoRoot(), env: { ...env, COLUMNS: "200", TERM: "dumb" } });
    this.proc.stdout!.on("data", (d: Buffer) => { this.out += d.toString(); });
    this.proc.stderr!.on("data", (d: Buffer) => { this.out += d.toString(); });
  }
  /** Types `text` a few characters at a time (as a person would; keypresses make typing events). */
  async type(text: string): Promise<void> {
    for (let i = 0; i < text.length; i += 4) {
      this.proc.stdin!.write(text.slice(i, i + 4));
      await new Promise((r) => setTimeout(r, 15));
    }
  }
  line(text: string): Promise<void> { return this.type(text + "\r"); }
  /** Waits until the output holds `what` (after `from`, an index into `out`). */
  async sees(what: string | RegExp, from = 0, ms = 20_000): Promise<void> {
    const has = () => { const s = this.out.slice(from); return typeof what === "string" ? s.includes(what) : what.test(s); };
    await waitUntil(`terminal output ${what}; got:\n${this.out.slice(-2000)}`, has, ms);
  }
  exited(): Promise<number | null> {
    return new Promise((resolve) => { if (this.proc.exitCode !== null) resolve(this.proc.exitCode); else this.proc.once("exit", (c) => resolve(c)); });
  }
  kill(): void { this.proc.kill("SIGKILL"); }
}
