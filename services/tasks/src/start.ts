/**
 * Starts the tasks service in one of its roles on a NATS connection:
 * `api` (the four ops, the read model and the due-task scheduler), `worker`
 * (runs tasks from the work queue), or `all` (both, as the local runner does).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKETS } from "@colmena/protocol";
import { ReadModel, claimReadModelFile, type Logger, type ServiceHost } from "@colmena/runtime";
import { endOfEvent, startTasksApi, type TaskEnd } from "./api.ts";
import { tasksConfig, type TasksConfig } from "./config.ts";
import { LEADER_BUCKET, TASKS_STREAM, WORKER_IDS_BUCKET, allEvents, isRunSubject, purgedSubject, type PurgedMarker, type TaskEvent } from "./events.ts";
import { TaskQueries, applyEvent, forgetBefore, migrate } from "./model.ts";
import { Scheduler } from "./scheduler.ts";
import { ensureTaskStreams, openTtlBucket } from "./streams.ts";
import { TaskLog } from "./task-log.ts";
import type { TaskType } from "./types/define.ts";
import { BUILTIN_TYPES, TaskTypes } from "./types/registry.ts";
import { TaskWatch } from "./watch.ts";
import { claimWorkerId, isWorkerLive, type WorkerIdClaim } from "./worker-id.ts";
import { Worker } from "./worker.ts";

export const TASKS_VERSION = "0.1.0";
export type TasksRole = "api" | "worker" | "all";

export interface StartTasksDeps {
  nc: NatsConnection;
  log: Logger;
  /** Read when `config` is not given (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  overrides?: Parameters<typeof tasksConfig.load>[1];
  config?: TasksConfig;
  /** Overrides the configured role. */
  role?: TasksRole;
  /** Task types beyond the built-in ones (tests add failing and hanging types). */
  extraTypes?: readonly TaskType[];
}

export interface RunningTasks {
  readonly role: TasksRole;
  /** The worker's id, when this instance runs a worker. */
  readonly workerId?: string;
  /** The API's micro service instance id, when it runs the API. */
  readonly apiId?: string;
  /** This API instance's read model: its queries and how far it has folded the stream (for tests and diagnostics). */
  readonly view?: { queries: TaskQueries; lastSeq(): number };
  /** Whether this instance currently leads the due-task scheduler. */
  isLeader(): boolean;
  /** Stops taking work, lets running tasks finish (bounded), closes the read model; leaves the connection open. */
  stop(): Promise<void>;
}

export async function startTasks(deps: StartTasksDeps): Promise<RunningTasks> {
  const config = deps.config ?? tasksConfig.load(deps.env ?? process.env, deps.overrides);
  const role = deps.role ?? config.role;
  const { nc, log } = deps;
  const jsm = await ensureTaskStreams(nc, config.streamReplicas);
  const taskLog = await TaskLog.open(nc);
  const types = new TaskTypes([...BUILTIN_TYPES, ...(deps.extraTypes ?? [])]);
  const closers: (() => Promise<unknown>)[] = [];

  let host: ServiceHost | undefined;
  let view: RunningTasks["view"];
  let scheduler: Scheduler | undefined;
  let worker: Worker | undefined;
  let claim: WorkerIdClaim | undefined;
  try {
    if (role !== "worker") {
      const watch = new TaskWatch<TaskEnd>();
      // Two API instances in one process never share a file.
      const { file, release } = claimReadModelFile("tasks", config.instance, config.dataDir);
      const model = await ReadModel.open({
        nc,
        stream: TASKS_STREAM,
        filterSubjects: [allEvents],
        file,
        name: "tasks",
        // 2: run messages on tasks.ev.run.* (one write per plain submit); the ev_seq and released columns.
        // 3: submit_seq is the rowid (no tasks_by_seq index).
        version: 3,
        // Longer transactions than the default 25 ms: each commit rewrites the pages it dirtied (the table's
        // and the indexes' last pages), so fewer, larger ones write less per task. Reads on this connection
        // see folded events at once; a crash refolds at most this much.
        commitEveryMs: 100,
        // Retention purges are followed by a `tasks.ev.purged` marker that forgets the same tasks.
        purgesMarked: true,
        // A new replica starts from the newest snapshot and folds the tail (libs/runtime/src/read-model-snapshot.ts).
        snapshots: { bucket: BUCKETS.tasksSnapshots.name, replicas: config.streamReplicas },
        log,
        migrate,
        apply: (db, stored) => {
          if (stored.subject === purgedSubject) { forgetBefore(db, stored.json<PurgedMarker>().before); return; }
          const ev = stored.json<TaskEvent>();
          applyEvent(db, stored.seq, ev, isRunSubject(stored.subject));
          // Only a `wait: true` submit watches, and only for the task's end.
          // Every append expects the task's last event, so a task has one terminal event: it says how the task ended.
          const end = endOfEvent(stored.seq, ev);
          if (end) watch.changed(ev.task_id, end);
        },
      });
      const queries = new TaskQueries(model.db);
      view = { queries, lastSeq: () => model.lastSeq };
      const kv = await openTtlBucket(nc, LEADER_BUCKET, config.leaderTtlMs, config.streamReplicas);
      const retention = config.retentionMs > 0 ? { jsm, queries, taskLog, retentionMs: config.retentionMs, batch: config.retentionBatch, foldedSeq: () => model.lastSeq, log } : undefined;
      const instanceId = `${config.instance}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      scheduler = new Scheduler({ kv, queries, taskLog, instanceId, ttlMs: config.leaderTtlMs, log, retention }).start();
      host = await startTasksApi({ nc, log, config, types, taskLog, queries, watch, waitForSeq: (seq, t) => model.waitFor(seq, t), foldedSeq: () => model.lastSeq }, TASKS_VERSION);
      const s = scheduler;
      closers.push(async () => {
        await host!.stop();
        await s.stop();
        await model.close();
        release();
      });
    }

    if (role !== "api") {
      const kv = await openTtlBucket(nc, WORKER_IDS_BUCKET, 15_000, config.streamReplicas);
      claim = await claimWorkerId(kv, 15_000, log, config.workerId);
      const c = claim;
      // Workers stop before the API, so a `wait: true` under way can still see its task end.
      closers.unshift(async () => {
        await worker?.stop();
        await c.release();
      });
      // The worker creates the work durables: only workers own their ack_wait (the stall timeout their heartbeats are sized to).
      worker = await new Worker({
        nc,
        log: log.child({ worker: claim.id }),
        taskLog,
        types,
        workerId: claim.id,
        concurrency: config.concurrency,
        ackWaitMs: config.ackWaitMs,
        startedAfterMs: config.startedAfterMs,
        isLive: (id) => isWorkerLive(kv, id),
        backoffBaseMs: config.backoffBaseMs,
        backoffMaxMs: config.backoffMaxMs,
      }).start();
    }
  } catch (err) {
    // Undo what did start, so a failed start leaves nothing running.
    for (const close of closers) await close().catch(() => undefined);
    throw err;
  }
  await nc.flush();
  log.info({ role, worker: claim?.id, api: host?.id }, "tasks ready");

  let stopping: Promise<void> | null = null;
  return {
    role,
    workerId: claim?.id,
    apiId: host?.id,
    view,
    isLeader: () => scheduler?.isLeader ?? false,
    stop: () =>
      (stopping ??= (async () => {
        for (const close of closers) {
          try { await close(); } catch (err) { log.warn({ err }, "error while stopping tasks"); }
        }
      })()),
  };
}
