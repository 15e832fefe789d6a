/**
 * Auth instances as separate OS processes, started the way operators start
 * them (`node --import tsx services/auth/src/main.ts`), for the replica tests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError } from "@colmena/protocol";
import { TEST_SCRYPT_N, call } from "./helpers.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "../../..");

export interface AuthProcess extends AsyncDisposable {
  readonly proc: ChildProcess;
  /** The micro service id it logged when ready. */
  readonly id: string;
  /** Sends a signal and waits (bounded) for the exit; resolves with the exit code or signal. */
  kill(signal: NodeJS.Signals): Promise<number | string>;
}

/** Spawns `services/auth/src/main.ts` and waits (bounded) for its "auth ready" log line; `env` adds settings. */
export async function spawnAuth(natsUrl: string, instance: string, env: Record<string, string> = {}): Promise<AuthProcess> {
  const proc = spawn(process.execPath, ["--import", "tsx", "services/auth/src/main.ts"], {
    cwd: root,
    env: { ...process.env, NATS_URL: natsUrl, COLMENA_INSTANCE: instance, COLMENA_LOG_LEVEL: "info", COLMENA_SCRYPT_N: String(TEST_SCRYPT_N), ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`auth ${instance} not ready in 30 s:\n${log}`)), 30_000);
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => {
      log += chunk;
      for (const line of log.split("\n")) {
        if (!line.includes('"auth ready"')) continue;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { id: string }).id);
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`auth ${instance} exited with ${code}:\n${log}`));
    });
  });
  proc.stderr!.removeAllListeners("data");
  proc.stderr!.resume();

  const kill = async (signal: NodeJS.Signals): Promise<number | string> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode!;
    const exited = once(proc, "exit");
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    const [code, sig] = (await exited) as [number | null, string | null];
    clearTimeout(timer);
    return code ?? sig ?? -1;
  };
  return { proc, id, kill, [Symbol.asyncDispose]: async () => void (await kill("SIGKILL")) };
}

/** Whether a failed call means "nobody answered in time", the only failure worth a retry here. */
function transient(err: unknown): boolean {
  if (err instanceof ColmenaError) return err.code === "unavailable" || err.code === "timeout";
  const e = err as { name?: string; message?: string; cause?: unknown };
  return /timeout|no responders|503/i.test(`${e.name} ${e.message} ${(e.cause as Error | undefined)?.name ?? ""}`);
}

/**
 * A call that retries a bounded number of times, only when nobody answered:
 * right after an instance dies, NATS may still route a request to it.
 */
export async function callRetrying<T>(nc: NatsConnection, op: string, data: unknown, onRetry: (err: unknown) => void = () => {}, attempts = 10): Promise<{ value: T; retries: number }> {
  for (let i = 0; ; i++) {
    try {
      return { value: await call<T>(nc, op, data, { timeoutMs: 1_000 }), retries: i };
    } catch (err) {
      if (i + 1 >= attempts || !transient(err)) throw err;
      onRetry(err);
    }
  }
}
