/**
 * The tasks service's settings: the common ones plus worker and scheduler
 * tuning. Loaded once at boot and frozen.
 */
import { z } from "zod";
import { commonSettings, defineConfig, int, setting, type ConfigOf } from "@colmena/runtime";

const ms = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

export const tasksSettings = {
  ...commonSettings,
  role: setting("COLMENA_TASKS_ROLE", z.enum(["api", "worker", "all"]).default("all"), "what this process runs: the API, a worker, or both"),
  workerId: setting("COLMENA_WORKER_ID", z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(), "this worker's id (default: worker-<hostname>-<n>, n claimed in KV)"),
  concurrency: setting("COLMENA_TASKS_CONCURRENCY", z.coerce.number().int().min(1).max(1024).default(16), "tasks one worker runs at once"),
  ackWaitMs: setting("COLMENA_TASKS_ACK_WAIT_MS", ms(6000, 1000), "a worker silent this long (it heartbeats each task it holds every third of it) is presumed dead and its task runs elsewhere"),
  startedAfterMs: setting("COLMENA_TASKS_STARTED_AFTER_MS", ms(50, 0), "an attempt records `started` (status running) once it has run this long; quicker ones record only their outcome (0: record every start)"),
  maxAttempts: setting("COLMENA_TASKS_MAX_ATTEMPTS", int(3), "default max_attempts of a task"),
  backoffBaseMs: setting("COLMENA_TASKS_BACKOFF_MS", ms(1000), "first retry delay; doubles each attempt, with jitter"),
  backoffMaxMs: setting("COLMENA_TASKS_BACKOFF_MAX_MS", ms(60_000), "longest retry delay"),
  leaderTtlMs: setting("COLMENA_TASKS_LEADER_TTL_MS", ms(5000, 1000), "the scheduler leader key's TTL; a dead leader is replaced within it"),
  retentionMs: setting("COLMENA_TASKS_RETENTION_MS", ms(7 * 24 * 3600 * 1000, 0), "a finished task is forgotten (stream and read models) this long after it ends; 0 keeps every task forever"),
  retentionBatch: setting("COLMENA_TASKS_RETENTION_BATCH", z.coerce.number().int().min(1).default(5000), "the most tasks one retention pass forgets (every read model deletes them in one go); a full pass is followed by another within seconds"),
  waitTimeoutMs: setting("COLMENA_TASKS_WAIT_TIMEOUT_MS", ms(30_000), "default timeout_ms of `wait: true`"),
};

export const tasksConfig = defineConfig(tasksSettings);
export type TasksConfig = ConfigOf<typeof tasksSettings>;
