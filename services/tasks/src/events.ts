/**
 * The tasks service's subjects, streams and event shapes. One stream, TASKS
 * (limits retention), holds everything:
 *
 *   tasks.ev.run.<priority>.<task_id>  the message that makes a task runnable, at most
 *                                      one per task: its `submitted` event (a plain
 *                                      submit: one write) or a `released` event (a
 *                                      delayed or idempotent submit, after its
 *                                      `submitted` below). Workers consume these through
 *                                      one durable pull consumer per priority.
 *   tasks.ev.task.<task_id>            every later change of one task (and the
 *                                      `submitted` of a delayed or idempotent one),
 *                                      each appended expecting the subject's last
 *                                      sequence: the task's actor log.
 *   tasks.ev.sched.<task_id>           a delayed task's release as a JetStream message
 *                                      schedule (`@at` a little before its run_at): the
 *                                      server itself stores it on the task's run subject
 *                                      and removes the schedule; a cancel purges it first
 *   tasks.ev.purged                    the scheduler leader purged the stream below a
 *                                      sequence (retention): every read model forgets
 *                                      the tasks submitted there
 *   tasks.cancel.<task_id>             core NATS: asks the worker running a task to stop
 *
 * Every event carries `attempt`, the attempts started so far, so the last
 * event of a task alone tells a worker what to do next.
 */
import { createHash, randomUUID } from "node:crypto";
import { BUCKETS, eventSubject, streamName, type TaskPriority } from "@colmena/protocol";

export const SERVICE = "tasks";
export const TASKS_STREAM = streamName(SERVICE);
/** KV bucket holding the scheduler's leader key (with a TTL). */
export const LEADER_BUCKET = BUCKETS.tasksLeader.name;
/** KV bucket where worker processes claim their readable ids (`worker-<host>-<n>`). */
export const WORKER_IDS_BUCKET = BUCKETS.tasksWorkers.name;

/**
 * How early a delayed task is released. nats-server looks at its message
 * schedules at most every 250 ms (a schedule fires up to 250 ms after its
 * time), so a task is scheduled this much before its due time and the
 * worker that takes it waits for the due time: it starts within a few
 * milliseconds of it. A task due sooner than this is released at once.
 */
export const RELEASE_EARLY_MS = 300;

export const PRIORITIES: readonly TaskPriority[] = ["high", "normal", "low"];

export const taskSubject = (taskId: string) => eventSubject(SERVICE, "task", taskId);
export const runSubject = (p: TaskPriority, taskId: string) => eventSubject(SERVICE, "run", p, taskId);
export const scheduleSubject = (taskId: string) => eventSubject(SERVICE, "sched", taskId);
/** Everything the stream holds (and the read model folds). */
export const allEvents = `${SERVICE}.ev.>`;
/** The runnable tasks of one priority: the filter of that priority's work consumer. */
export const runFilter = (p: TaskPriority) => `${SERVICE}.ev.run.${p}.*`;
export const isRunSubject = (subject: string) => subject.startsWith(`${SERVICE}.ev.run.`);
/** The retention marker's subject (not a task's: it has no task id). */
export const purgedSubject = eventSubject(SERVICE, "purged");
export const cancelSubject = (taskId: string) => `${SERVICE}.cancel.${taskId}`;
export const allCancels = `${SERVICE}.cancel.*`;
/** The durable pull consumer of one priority, shared by every worker. */
export const workConsumer = (p: TaskPriority) => `tasks-work-${p}`;

/**
 * A fresh task id: `t_` and 32 hex digits, the first 12 the time in ms and
 * the other 20 (76 random bits) from a random UUID (randomUUID draws from a cached
 * entropy pool: cheaper than randomBytes per call). Time first, as in a
 * UUIDv7, so new ids land at the end of the read model's task_id index
 * instead of on a random page of it: a commit then rewrites a few pages, not
 * one per task (docs/benchmarks.md, tasks).
 */
export function newTaskId(): string {
  // 20 of the UUID's hex digits, skipping its version digit (always 4): 76 random bits.
  const h = randomUUID().replaceAll("-", "");
  return `t_${Date.now().toString(16).padStart(12, "0")}${h.slice(0, 12)}${h.slice(13, 21)}`;
}

/**
 * The task id of an idempotent submit: a hash of the user and the key, so
 * every API replica derives the same id and the stream's per-subject
 * expectation (`lastSubjectSequence: 0`) lets exactly one submit create it.
 */
export function idempotentTaskId(userId: string, key: string): string {
  return `t_${createHash("sha256").update(`${userId}\u0000${key}`).digest("hex").slice(0, 32)}`;
}

interface Base { task_id: string; attempt: number; ts: number }

/** What a task is: everything a worker needs to run it without a lookup. */
interface TaskSpec extends Base {
  user_id: string;
  username: string;
  type: string;
  input: unknown;
  priority: TaskPriority;
  max_attempts: number;
}

export interface SubmittedEvent extends TaskSpec {
  kind: "submitted";
  run_at?: number;
}
/** Makes a delayed or idempotently submitted task runnable (its `submitted` is on the task subject). */
export interface ReleasedEvent extends TaskSpec {
  kind: "released";
  /** A delayed task's due time: released up to RELEASE_EARLY_MS before it, and not started before it. */
  run_at?: number;
  /** The task subject's last sequence at release (its `submitted`): what a worker's first write expects. */
  expect: number;
}
export interface StartedEvent extends Base { kind: "started"; worker: string }
export interface ProgressEvent extends Base { kind: "progress"; progress: number }
export interface RetryEvent extends Base { kind: "retry"; error: string; retry_at: number; worker?: string }
/** `started_at`: when the attempt began (an attempt that ends quickly records no `started`). */
export interface DoneEvent extends Base { kind: "done"; result: unknown; worker: string; started_at?: number }
export interface FailedEvent extends Base { kind: "failed"; error: string; worker?: string }
export interface CancelledEvent extends Base { kind: "cancelled"; was: string }

/**
 * On `tasks.ev.purged`: every message below `before` was purged (each
 * belonged to a task that ended more than the retention period ago), so
 * every read model forgets the tasks submitted below it.
 */
export interface PurgedMarker { kind: "purged"; before: number; ts: number }

export type TaskEvent = SubmittedEvent | ReleasedEvent | StartedEvent | ProgressEvent | RetryEvent | DoneEvent | FailedEvent | CancelledEvent;
export type EventKind = TaskEvent["kind"];

export const TERMINAL_KINDS: ReadonlySet<EventKind> = new Set(["done", "failed", "cancelled"]);

/** A run message (`tasks.ev.run.*`): all a worker needs to run the task without a lookup. */
export type WorkItem = SubmittedEvent | ReleasedEvent;

export const encode = (v: unknown) => JSON.stringify(v);
