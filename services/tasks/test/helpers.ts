/**
 * Helpers for the tasks service's own tests: a tasks instance on a real
 * nats-server, and `call()`, which sends an op the way the gateway does
 * (a NATS request with the `Colmena-User` headers) and returns the reply or
 * throws the ColmenaError the service answered.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, Headers, opSubject, type ErrorBody } from "@colmena/protocol";
import { createLogger, silentLogger } from "@colmena/runtime";
import { jetstream } from "@nats-io/jetstream";
import { TASKS_STREAM, startTasks, taskSubject, type RunningTasks, type StartTasksDeps, type TaskEvent } from "@colmena/tasks";

export const fastEnv = (dataDir: string): NodeJS.ProcessEnv => ({
  COLMENA_DATA_DIR: dataDir,
  COLMENA_TASKS_ACK_WAIT_MS: "2000",
  COLMENA_TASKS_BACKOFF_MS: "50",
  COLMENA_TASKS_BACKOFF_MAX_MS: "200",
  COLMENA_TASKS_LEADER_TTL_MS: "1500",
});

export interface TasksFixture extends AsyncDisposable {
  nc: NatsConnection;
  dataDir: string;
  /** Starts one more instance on its own connection; stopped with the fixture. */
  start(opts?: Partial<StartTasksDeps> & { instance?: string }): Promise<RunningTasks & { nc: NatsConnection }>;
  stop(): Promise<void>;
}

export async function tasksFixture(url: string | string[]): Promise<TasksFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-tasks-"));
  const nc = await connect({ servers: url });
  const started: { t: RunningTasks; nc: NatsConnection }[] = [];
  let n = 0;
  const stop = async () => {
    for (const s of started.reverse()) {
      // Bounded, so a teardown after a failure never hangs the file.
      await Promise.race([s.t.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 20_000).unref())]);
      await s.nc.close().catch(() => undefined);
    }
    await nc.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    nc,
    dataDir,
    async start(opts = {}) {
      const tnc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      const { instance = `t${++n}`, env, ...rest } = opts;
      const t = await startTasks({
        nc: tnc,
        log: process.env.TASKS_TEST_LOG ? createLogger({ service: "tasks", instance, level: process.env.TASKS_TEST_LOG }) : silentLogger(),
        env: { ...fastEnv(dataDir), COLMENA_INSTANCE: instance, COLMENA_WORKER_ID: `w-${instance}`, ...env },
        ...rest,
      }).catch(async (err) => {
        await tnc.close();
        throw err;
      });
      started.push({ t, nc: tnc });
      return Object.assign(t, { nc: tnc });
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** The highest `Colmena-Seq` each connection has seen, sent back as `Colmena-Min-Seq` (as the gateway does per client connection). */
const seenSeq = new WeakMap<NatsConnection, number>();

/** Sends an op as the gateway would, as `user` (id and username), with the session's read-your-writes sequence. */
export async function call<T = Record<string, any>>(nc: NatsConnection, op: string, data: unknown, user = "u1", opts: { minSeq?: number; timeoutMs?: number } = {}): Promise<T & { _seq?: number }> {
  const h = headers();
  h.set(Headers.user, user);
  h.set(Headers.username, user);
  h.set(Headers.requestId, `test-${Math.random().toString(36).slice(2)}`);
  const minSeq = opts.minSeq ?? seenSeq.get(nc);
  if (minSeq) h.set(Headers.minSeq, String(minSeq));
  const m = await nc.request(opSubject(op), JSON.stringify(data), { timeout: opts.timeoutMs ?? 10_000, headers: h });
  if (m.headers?.get(Headers.serviceErrorCode)) throw ColmenaError.fromBody(m.json<ErrorBody>());
  const out = m.json<T & { _seq?: number }>();
  const seq = Number(m.headers?.get(Headers.seq) || 0);
  if (seq > (seenSeq.get(nc) ?? 0)) seenSeq.set(nc, seq);
  // Not enumerable, so replies still compare equal to plain objects.
  if (seq) Object.defineProperty(out, "_seq", { value: seq, enumerable: false });
  return out;
}

/** Polls until `check` returns something defined, or fails after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every event of one task (its run message and its own subject), in stream order. */
export async function taskEvents(nc: NatsConnection, taskId: string): Promise<(TaskEvent & { seq: number })[]> {
  const js = jetstream(nc);
  const oc = await js.consumers.get(TASKS_STREAM, { filter_subjects: [taskSubject(taskId), `tasks.ev.run.*.${taskId}`] });
  const n = (await oc.info()).num_pending;
  const out: (TaskEvent & { seq: number })[] = [];
  if (n === 0) return out;
  const it = await oc.fetch({ max_messages: n, expires: 5000 });
  for await (const m of it) {
    out.push({ ...m.json<TaskEvent>(), seq: m.seq });
    if (out.length >= n) break;
  }
  await oc.delete().catch(() => undefined);
  return out;
}
