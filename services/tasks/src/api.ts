/**
 * The tasks API: `tasks.submit`, `tasks.get`, `tasks.list`, `tasks.cancel`.
 * Writes go to the TASKS stream (the truth); reads come from this
 * instance's read model, after it has applied the caller's last write
 * (`Colmena-Min-Seq`), so any replica may answer any request.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import { ColmenaError, notFound, tasksOps, type TaskStatus } from "@colmena/protocol";
import { ServiceHost, callerOf, type Logger, type RequestContext } from "@colmena/runtime";
import type { TasksConfig } from "./config.ts";
import { TERMINAL_KINDS, cancelSubject, idempotentTaskId, newTaskId, type SubmittedEvent, type TaskEvent } from "./events.ts";
import { isTerminal, type TaskQueries, type TaskRow } from "./model.ts";
import { fitPage, fitRecord, fitValue, replyBudget } from "./reply-fit.ts";
import { releaseOf } from "./scheduler.ts";
import type { TaskLog } from "./task-log.ts";
import type { TaskTypes } from "./types/registry.ts";
import type { TaskWatch } from "./watch.ts";

/** How a task ended, from its row or (sparing the read) from the event that ended it. */
export interface TaskEnd {
  seq: number;
  status: TaskStatus;
  result?: unknown;
  worker?: string;
  attempts: number;
  error?: string;
}

function endOfRow(r: TaskRow | undefined): TaskEnd | undefined {
  if (!r || !isTerminal(r.status)) return undefined;
  return { seq: r.last_seq, status: r.status, result: r.result === null ? undefined : JSON.parse(r.result), worker: r.worker ?? undefined, attempts: r.attempts, error: r.error ?? undefined };
}

/** The end a terminal event records (folded at `seq`). */
export function endOfEvent(seq: number, ev: TaskEvent): TaskEnd | undefined {
  switch (ev.kind) {
    case "done": return { seq, status: "done", result: ev.result, worker: ev.worker, attempts: ev.attempt };
    case "failed": return { seq, status: "failed", attempts: ev.attempt, error: ev.error };
    case "cancelled": return { seq, status: "cancelled", attempts: ev.attempt };
    default: return undefined;
  }
}

export interface ApiDeps {
  nc: NatsConnection;
  log: Logger;
  config: TasksConfig;
  types: TaskTypes;
  taskLog: TaskLog;
  queries: TaskQueries;
  watch: TaskWatch<TaskEnd>;
  /** The read model's `waitFor`. */
  waitForSeq(seq: number, timeoutMs?: number): Promise<void>;
  /** The read model's `lastSeq`. */
  foldedSeq(): number;
}

type SubmitData = z.output<(typeof tasksOps)["tasks.submit"]["request"]>;

/** The caller's task, or `not_found` (also for anyone else's: only the submitter sees a task). */
function ownTask(queries: TaskQueries, taskId: string, userId: string): TaskRow {
  const row = queries.get(taskId);
  if (!row || row.user_id !== userId) throw notFound(`no task ${taskId}`);
  return row;
}

const statusOfKind = (kind: TaskEvent["kind"]): TaskStatus => (kind === "done" ? "done" : kind === "failed" ? "failed" : "cancelled");

export function createTasksApi(deps: ApiDeps) {
  const { config, types, taskLog, queries, watch } = deps;

  /**
   * Makes a recorded task runnable, or for a delayed one hands its release to
   * the server (a message schedule); the stream refuses a second release or
   * schedule, so racing resubmits are harmless.
   */
  const release = async (row: TaskRow) => {
    const r = await taskLog.release(releaseOf(row));
    return r.ok ? r.seq : 0;
  };

  async function submit(data: SubmitData, ctx: RequestContext) {
    const user = callerOf(ctx);
    const type = types.resolve(data.type);
    const input = type.parse(data.input);
    const now = Date.now();
    const taskId = data.idempotency_key ? idempotentTaskId(user.id, data.idempotency_key) : newTaskId();
    const ev: SubmittedEvent = {
      kind: "submitted",
      task_id: taskId,
      attempt: 0,
      user_id: user.id,
      username: user.username ?? user.id,
      type: type.name,
      input,
      priority: data.priority ?? "normal",
      max_attempts: data.max_attempts ?? config.maxAttempts,
      ts: now,
    };
    if (data.delay_ms) ev.run_at = now + data.delay_ms;
    let seq: number;
    if (!data.idempotency_key && !ev.run_at) {
      // The common case is one write: the submitted event is the run message workers take.
      const r = await taskLog.run(ev);
      if (!r.ok) throw new ColmenaError("conflict", `task id ${taskId} is taken; submit again`);
      seq = r.seq;
    } else {
      // On the task's own subject, expecting "no event yet": the id is unique cluster-wide,
      // so an idempotent resubmit, on any replica, lands in the else branch below.
      let r = await taskLog.append(ev, 0, taskId);
      if (r.ok && r.duplicate && (await forgottenAt(taskId, r.seq))) {
        // The stream remembered the message id of a task that retention has since forgotten: a new task.
        r = await taskLog.append(ev, 0, `${taskId}@${r.seq}`);
      }
      if (r.ok && !r.duplicate) {
        seq = r.seq;
        const released = await taskLog.release({ ...ev, kind: "released", expect: r.seq, ts: Date.now() });
        if (released.ok) seq = released.seq;
      } else {
        seq = r.ok ? r.seq : ((await taskLog.last(taskId))?.seq ?? 0);
        await deps.waitForSeq(seq);
        const row = ownTask(queries, taskId, user.id);
        // The first submit's instance may have died between its two writes.
        if (!row.released) seq = Math.max(seq, await release(row));
        seq = Math.max(seq, row.last_seq);
      }
    }
    ctx.setSeq(seq);
    if (!data.wait) return { task_id: taskId, status: queries.get(taskId)?.status ?? ("queued" as const) };

    const timeoutMs = data.timeout_ms ?? config.waitTimeoutMs;
    // Until the model has folded the submit itself, no end of the task can be in it: skip the read.
    const end = await watch.until(taskId, timeoutMs, (news) => news ?? (deps.foldedSeq() >= seq ? endOfRow(queries.get(taskId)) : undefined));
    ctx.setSeq(end.seq);
    if (end.status === "done") {
      // The result may be larger than a reply can be (a record's rules: its longest prefix that fits).
      const result = fitValue(end.result ?? null, replyBudget(deps.nc) - 512);
      return { task_id: taskId, status: "done" as const, result: result.value ?? null, ...(result.cut ? { result_truncated: true as const } : {}), worker: end.worker, attempts: end.attempts };
    }
    const details = { task_id: taskId, status: end.status, attempts: end.attempts, error: end.error };
    if (end.status === "cancelled") throw new ColmenaError("conflict", `task ${taskId} was cancelled`, { details });
    throw new ColmenaError("internal", `task ${taskId} failed after ${end.attempts} attempt(s): ${end.error ?? "unknown error"}`, { details, retryable: false });
  }

  /** Whether the task submitted at `seq` was forgotten (retention) once the model has folded that far. */
  async function forgottenAt(taskId: string, seq: number): Promise<boolean> {
    await deps.waitForSeq(seq);
    return queries.get(taskId) === undefined;
  }

  async function cancel(taskId: string, ctx: RequestContext) {
    const user = callerOf(ctx);
    let row = ownTask(queries, taskId, user.id);
    if (isTerminal(row.status)) return { task_id: taskId, status: row.status };
    let expect = row.ev_seq;
    let attempt = row.attempts;
    let was: string = row.status;
    for (let round = 0; round < 10; round++) {
      const r = await taskLog.append({ kind: "cancelled", task_id: taskId, attempt, was, ts: Date.now() }, expect);
      if (r.ok) {
        // A worker running it stops at once; one that looks later finds it cancelled.
        deps.nc.publish(cancelSubject(taskId));
        // A delayed one is not released at all (if its schedule fired meanwhile, a worker finds it cancelled).
        if (row.run_at !== null && was === "queued") await taskLog.unschedule(taskId);
        ctx.setSeq(r.seq);
        return { task_id: taskId, status: "cancelled" as const };
      }
      const last = await taskLog.last(taskId);
      if (!last) {
        // Only its run message so far: nothing has happened to it yet.
        expect = 0;
        was = "queued";
        continue;
      }
      if (TERMINAL_KINDS.has(last.ev.kind)) {
        ctx.setSeq(last.seq);
        return { task_id: taskId, status: statusOfKind(last.ev.kind) };
      }
      expect = last.seq;
      attempt = last.ev.attempt;
      was = last.ev.kind === "started" || last.ev.kind === "progress" ? "running" : "queued";
    }
    throw new ColmenaError("conflict", `task ${taskId} kept changing; try again`);
  }

  return { submit, cancel };
}

/** Serves the four ops on a ServiceHost (queue group `tasks`). */
export async function startTasksApi(deps: ApiDeps, version: string): Promise<ServiceHost> {
  const api = createTasksApi(deps);
  const host = await ServiceHost.start({
    nc: deps.nc,
    name: "tasks",
    version,
    description: "durable distributed tasks",
    log: deps.log,
    waitForSeq: (seq) => deps.waitForSeq(seq),
  });
  host
    .handle(tasksOps["tasks.submit"], (data, ctx) => api.submit(data, ctx))
    .handle(tasksOps["tasks.get"], (data, ctx) => fitRecord(ownTask(deps.queries, data.task_id, callerOf(ctx).id), replyBudget(deps.nc)))
    .handle(tasksOps["tasks.list"], (data, ctx) => {
      const limit = data.limit ?? 50;
      const rows = deps.queries.list(callerOf(ctx).id, { status: data.status, before: data.before, limit });
      // Paged by size as well as by count: a page ends early before a record that would not fit.
      const page = fitPage(rows, replyBudget(deps.nc));
      const last = rows[page.records.length - 1];
      const next = page.more || rows.length === limit ? last.submit_seq : undefined;
      return { tasks: page.records, ...(next ? { next } : {}) };
    })
    .handle(tasksOps["tasks.cancel"], (data, ctx) => api.cancel(data.task_id, ctx));
  await deps.nc.flush();
  return host;
}
