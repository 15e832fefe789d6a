/**
 * A worker: runs up to `concurrency` tasks at once on the work-consumer
 * recipe of libs/runtime (`runConsumer`), over the three priority durables,
 * high first: a waiting high task always goes before normal and low ones.
 * The recipe pulls, holds, hands back and recovers; this file adds what is
 * the tasks service's own: cancellation (`tasks.cancel.<id>` aborts the
 * running attempt), the attempt bookkeeping in `runTask`, and a stop that
 * aborts what outlives its grace.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { backoffDelay, counter, histogram, runConsumer, type Logger, type RunningConsumer } from "@colmena/runtime";
import { PRIORITIES, TASKS_STREAM, allCancels, runFilter, workConsumer } from "./events.ts";
import { Cancelled, runTask, type RunDeps } from "./run-task.ts";
import type { TaskLog } from "./task-log.ts";
import type { TaskTypes } from "./types/registry.ts";

export interface WorkerOptions {
  nc: NatsConnection;
  log: Logger;
  taskLog: TaskLog;
  types: TaskTypes;
  workerId: string;
  concurrency: number;
  ackWaitMs: number;
  startedAfterMs: number;
  /** Whether the worker with this id is alive. */
  isLive(workerId: string): Promise<boolean>;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long a standing pull request lives (renewed while idle). Default 2 s. */
  requestExpiresMs?: number;
}

const outcomes = counter("colmena_tasks_attempts_total", "task attempts by type and outcome", ["type", "outcome"]);
const durations = histogram("colmena_tasks_attempt_seconds", "how long task attempts took", ["type"], [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60]);

export class Worker {
  private running = new Map<string, (reason: Error) => void>();
  private stopped = false;
  private cancels: Subscription | null = null;
  private consumer: RunningConsumer | null = null;
  private readonly deps: RunDeps;

  constructor(private readonly opts: WorkerOptions) {
    this.deps = {
      nc: opts.nc,
      log: opts.log,
      taskLog: opts.taskLog,
      types: opts.types,
      workerId: opts.workerId,
      startedAfterMs: opts.startedAfterMs,
      isLive: opts.isLive,
      backoff: (n) => backoffDelay(n, opts.backoffBaseMs, opts.backoffMaxMs),
      track: (id, abort) => {
        this.running.set(id, abort);
        return () => this.running.delete(id);
      },
      outcome: (type, outcome, ms) => {
        outcomes.inc({ type, outcome });
        durations.observe({ type }, ms / 1000);
      },
    };
  }

  get id(): string {
    return this.opts.workerId;
  }

  /** Creates or updates the work durables (workers own their ack_wait) and starts taking tasks. */
  async start(): Promise<this> {
    const { nc } = this.opts;
    this.cancels = nc.subscribe(allCancels, {
      callback: (_err, m) => {
        const id = m.subject.split(".").pop()!;
        this.running.get(id)?.(new Cancelled("cancelled by the submitter"));
      },
    });
    try {
      this.consumer = await runConsumer({
        nc,
        log: this.opts.log,
        stream: TASKS_STREAM,
        consumers: PRIORITIES.map((p) => ({ durable: workConsumer(p), filterSubjects: [runFilter(p)] })),
        concurrency: this.opts.concurrency,
        // ack_wait is the stall timeout: a worker silent that long is presumed dead and the task redelivered.
        // The recipe heartbeats every task in hand (each has a timeout of its own), so it can be short.
        ackWaitMs: this.opts.ackWaitMs,
        heartbeat: true,
        // Unbounded: attempts are counted in the task's events (a redelivery after a cancel is not an attempt).
        maxDeliver: Infinity,
        maxAckPending: 100_000,
        maxWaiting: 4096,
        backoffMs: this.deps.backoff,
        requestExpiresMs: this.opts.requestExpiresMs,
        // runTask settles every delivery itself (ack, nak with the task's backoff, or leave when superseded).
        handle: (m) => runTask(this.deps, m),
      });
    } catch (err) {
      this.cancels.unsubscribe();
      throw err;
    }
    this.opts.log.info({ worker: this.id, concurrency: this.opts.concurrency }, "worker started");
    return this;
  }

  /**
   * Stops taking tasks and waits up to `graceMs` for the running ones; then
   * aborts them (each records a retry, so another worker takes it over).
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const drained = this.consumer?.stop() ?? Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = await Promise.race([drained.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (graceOver) for (const abort of this.running.values()) abort(new Error("worker stopped"));
    await drained;
    this.cancels?.unsubscribe();
    this.opts.log.info({ worker: this.id }, "worker stopped");
  }
}
