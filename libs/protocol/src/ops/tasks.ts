/**
 * Ops of the `tasks` service (protocol.md section 5). The wire schema stays
 * loose on `type` and `input` (a name, alias or numeric code; a string or a
 * number): the service resolves the type in its own registry and validates
 * the input against it, so adding a task type never touches the protocol.
 */
import { z } from "zod";
import { defineEvent } from "../events/define.ts";
import { defineOp } from "./define.ts";
import { legacyTaskFrame } from "./tasks-legacy.ts";

export const TASK_STATUSES = ["queued", "running", "done", "failed", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const taskStatus = z.enum(TASK_STATUSES);

export const TASK_PRIORITIES = ["high", "normal", "low"] as const;
export type TaskPriority = (typeof TASK_PRIORITIES)[number];

/** Task ids are produced by the service: `t_` and 32 lowercase hex digits. */
export const taskId = z.string().regex(/^t_[0-9a-f]{32}$/, "a task id (t_ and 32 hex digits)");

/** A task as `tasks.get` and `tasks.list` show it. Fields beyond protocol.md's are additions. */
export const taskRecord = z.object({
  task_id: z.string(),
  type: z.string(),
  status: taskStatus,
  input: z.unknown(),
  result: z.unknown().optional(),
  /** The record would not fit in one reply: `input` is cut (a string's prefix, else null). */
  input_truncated: z.literal(true).optional(),
  /** `result` is cut (a string's prefix) or left out: the whole of it did not fit in one reply. */
  result_truncated: z.literal(true).optional(),
  error: z.string().optional(),
  worker: z.string().optional(),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  priority: z.enum(TASK_PRIORITIES),
  run_at: z.number().int().optional(),
  progress: z.number().optional(),
  created_at: z.number().int(),
  updated_at: z.number().int(),
});
export type TaskRecord = z.infer<typeof taskRecord>;

export const tasksOps = {
  "tasks.submit": defineOp({
    op: "tasks.submit",
    service: "tasks",
    access: "user",
    summary: "Submits a task; with `wait: true` answers with its result (or `timeout`, while the task goes on).",
    timeout: { field: "timeout_ms", when: "wait", defaultMs: 30_000 },
    legacy: legacyTaskFrame,
    request: z.strictObject({
      type: z.union([z.string().min(1).max(64), z.number().int()]),
      input: z.union([z.string().max(256 * 1024), z.number()]),
      wait: z.boolean().optional(),
      timeout_ms: z.number().int().min(1).max(600_000).optional(),
      max_attempts: z.number().int().min(1).max(20).optional(),
      delay_ms: z.number().int().min(0).max(30 * 24 * 3600 * 1000).optional(),
      priority: z.enum(TASK_PRIORITIES).optional(),
      idempotency_key: z.string().min(1).max(256).optional(),
    }),
    reply: z.object({
      task_id: z.string(),
      status: taskStatus,
      result: z.unknown().optional(),
      result_truncated: z.literal(true).optional(),
      worker: z.string().optional(),
      attempts: z.number().int().optional(),
    }),
  }),
  "tasks.get": defineOp({
    op: "tasks.get",
    service: "tasks",
    access: "user",
    idempotent: true, // a read
    summary: "One task of the caller's; anyone else's is `not_found`, and so is a finished task past the service's retention period (`COLMENA_TASKS_RETENTION_MS`, default 7 days after it ended).",
    request: z.strictObject({ task_id: z.string().min(1).max(128) }),
    reply: taskRecord,
  }),
  "tasks.list": defineOp({
    op: "tasks.list",
    service: "tasks",
    access: "user",
    idempotent: true, // a read
    summary: "The caller's tasks, newest first; `status: \"failed\"` lists the dead letters. `next` is the `before` of the next page.",
    request: z.strictObject({
      status: taskStatus.optional(),
      limit: z.number().int().min(1).max(200).optional(),
      before: z.number().int().min(1).optional(),
    }),
    reply: z.object({ tasks: z.array(taskRecord), next: z.number().int().optional() }),
  }),
  "tasks.cancel": defineOp({
    op: "tasks.cancel",
    service: "tasks",
    access: "user",
    summary: "Cancels a task: a queued one never runs, a running one is asked to stop; a finished one is left as it is.",
    request: z.strictObject({ task_id: z.string().min(1).max(128) }),
    reply: z.object({ task_id: z.string(), status: taskStatus }),
  }),
};

/** The stream sequence of the task event behind a push: each outcome reaches a client at most once. */
const eventSeq = z.number().int().min(1);
const seqNote = " `seq` is the stream sequence of the task event behind it: the same on a repeat (a worker that died between recording it and acking is followed by another that announces it again), so a client drops a (`task_id`, `seq`) it has seen; the SDK does.";

/** Events to the submitter's connections (channel `user.<user_id>`), from the worker that ran the task. */
export const tasksEvents = {
  "task.done": defineEvent({
    event: "task.done",
    service: "tasks",
    summary: "A task of the user's finished: its result and the worker that ran it. To every connection of the submitter." + seqNote,
    data: z.object({ task_id: z.string(), result: z.unknown(), worker: z.string(), seq: eventSeq }),
  }),
  "task.failed": defineEvent({
    event: "task.failed",
    service: "tasks",
    summary: "A task of the user's failed for good (invalid input, or its last attempt failed). To every connection of the submitter." + seqNote,
    data: z.object({ task_id: z.string(), error: z.string(), seq: eventSeq }),
  }),
  "task.progress": defineEvent({
    event: "task.progress",
    service: "tasks",
    summary: "A running task reported progress, a fraction from 0 to 1. To every connection of the submitter." + seqNote,
    data: z.object({ task_id: z.string(), progress: z.number().min(0).max(1), seq: eventSeq }),
  }),
};
