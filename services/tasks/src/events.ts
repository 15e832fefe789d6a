/**
 * The tasks service's subjects, streams and event shapes.
 *
 *   tasks.ev.task.<task_id>     stream TASKS (limits): every state change of one task
 *   tasks.work.<priority>       stream TASKS_WORK (work queue): one message per runnable task
 *   tasks.cancel.<task_id>      core NATS: asks the worker running a task to stop
 *
 * Every event carries `attempt`, the attempts started so far, so the last
 * event of a task alone tells a worker what to do next.
 */
import { createHash, randomBytes } from "node:crypto";
import { eventSubject, streamName, type TaskPriority } from "@colmena/protocol";

export const SERVICE = "tasks";
export const TASKS_STREAM = streamName(SERVICE);
export const WORK_STREAM = `${TASKS_STREAM}_WORK`;
/** KV bucket holding the scheduler's leader key (with a TTL). */
export const LEADER_BUCKET = "TASKS_LEADER";
/** KV bucket where worker processes claim their readable ids (`worker-<host>-<n>`). */
export const WORKER_IDS_BUCKET = "TASKS_WORKERS";

export const PRIORITIES: readonly TaskPriority[] = ["high", "normal", "low"];

export const taskSubject = (taskId: string) => eventSubject(SERVICE, "task", taskId);
export const allTaskEvents = `${SERVICE}.ev.task.>`;
export const workSubject = (p: TaskPriority) => `${SERVICE}.work.${p}`;
export const allWork = `${SERVICE}.work.>`;
export const cancelSubject = (taskId: string) => `${SERVICE}.cancel.${taskId}`;
export const allCancels = `${SERVICE}.cancel.*`;
/** The durable pull consumer of one priority, shared by every worker. */
export const workConsumer = (p: TaskPriority) => `tasks-work-${p}`;

/** A fresh task id: `t_` and 128 random bits in hex. */
export function newTaskId(): string {
  return `t_${randomBytes(16).toString("hex")}`;
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

export interface SubmittedEvent extends Base {
  kind: "submitted";
  user_id: string;
  username: string;
  type: string;
  input: unknown;
  priority: TaskPriority;
  max_attempts: number;
  run_at?: number;
}
export interface StartedEvent extends Base { kind: "started"; worker: string }
export interface ProgressEvent extends Base { kind: "progress"; progress: number }
export interface RetryEvent extends Base { kind: "retry"; error: string; retry_at: number; worker?: string }
export interface DoneEvent extends Base { kind: "done"; result: unknown; worker: string }
export interface FailedEvent extends Base { kind: "failed"; error: string; worker?: string }
export interface CancelledEvent extends Base { kind: "cancelled"; was: string }

export type TaskEvent = SubmittedEvent | StartedEvent | ProgressEvent | RetryEvent | DoneEvent | FailedEvent | CancelledEvent;
export type EventKind = TaskEvent["kind"];

export const TERMINAL_KINDS: ReadonlySet<EventKind> = new Set(["done", "failed", "cancelled"]);

/** What goes on the work queue: all a worker needs to run the task without a lookup. */
export interface WorkItem {
  task_id: string;
  user_id: string;
  username: string;
  type: string;
  input: unknown;
  max_attempts: number;
  /** Stream sequence of the task's last event when this was queued (the first claim expects it). */
  seq: number;
}

export const encode = (v: unknown) => JSON.stringify(v);
