/**
 * Retention: a task that ended more than `retentionMs` ago is forgotten,
 * in the TASKS stream and in every read model. The scheduler leader runs it.
 *
 * One purge of the whole stream below a sequence, not one per task:
 * `before` is the submit sequence of the oldest task still needed (not
 * finished, or finished within the retention period), so every message
 * below it belongs to a task that may go. A task still needed is never
 * touched, however old: a long-delayed or backlogged one holds `before` back
 * until it ends (and so keeps every later task too). The few tasks submitted
 * below `before` that wrote events above it have their two subjects purged
 * one by one, so no stray events of a forgotten task remain (an idempotent
 * resubmit of it then starts afresh).
 *
 * Read models cannot see a purge, so the leader then appends a marker
 * (`tasks.ev.purged`, `before`); each model, folding it, deletes the tasks
 * submitted below it, exactly as a model rebuilt from the purged stream never
 * creates them. A model that lagged behind the purge ends up the same way.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { counter, type Logger } from "@colmena/runtime";
import { TASKS_STREAM, runSubject, taskSubject } from "./events.ts";
import type { TaskQueries } from "./model.ts";
import type { TaskLog } from "./task-log.ts";

export interface RetentionOptions {
  jsm: JetStreamManager;
  queries: TaskQueries;
  taskLog: TaskLog;
  /** How long a finished task is kept. */
  retentionMs: number;
  /** The most tasks one pass forgets: every read model deletes a pass's tasks in one go (5,000 took 11 ms here, 100,000 took 360). */
  batch: number;
  /** The last stream sequence the read model has folded: nothing after it is known here, so nothing after it goes. */
  foldedSeq(): number;
  log: Logger;
}

const purgedMessages = counter("colmena_tasks_retention_purged_messages_total", "TASKS messages purged by retention (by this instance, while it led the scheduler)");


/** Forgets what is past retention, up to `batch` tasks; says whether more may be waiting (run again soon). */
export async function forgetExpired(opts: RetentionOptions): Promise<{ more: boolean }> {
  const { jsm, queries, taskLog, log } = opts;
  const needed = Math.min(queries.firstNeeded(Date.now() - opts.retentionMs) ?? Infinity, opts.foldedSeq() + 1);
  const before = Math.min(needed, queries.submitSeqAt(opts.batch) ?? Infinity);
  const oldest = queries.submitSeqAt(0);
  if (oldest === undefined || oldest >= before) return { more: false };
  const straddlers = queries.straddlers(before);
  for (const t of straddlers) {
    await jsm.streams.purge(TASKS_STREAM, { filter: taskSubject(t.task_id) });
    await jsm.streams.purge(TASKS_STREAM, { filter: runSubject(t.priority, t.task_id) });
  }
  const { purged } = await jsm.streams.purge(TASKS_STREAM, { seq: before });
  purgedMessages.inc(purged);
  await taskLog.markPurged(before);
  log.info({ before, purged, straddlers: straddlers.length }, "forgot the tasks past retention");
  return { more: before < needed };
}
