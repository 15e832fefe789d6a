/**
 * A worker: runs up to `concurrency` tasks at once, taken from the three
 * priority consumers. It works in two modes:
 *
 * - While it has free slots, a standing pull request on each consumer, so a
 *   new task is delivered the moment it is stored, without a round trip.
 *   Each asks for as many messages as there are free slots, so up to three
 *   times that many can arrive at once; the ones that find no free slot
 *   wait in a small local buffer, by priority.
 * - Whenever a slot frees while tasks are buffered, or a consumer has no live
 *   request (it delivered all it asked for, or expired), a scan, by
 *   priority: that priority's buffered tasks, then a no-wait pull of its
 *   consumer for the slots still free (a consumer with a live request needs
 *   none: the server hands it anything waiting). So a waiting high task
 *   always goes before normal and low ones.
 *
 * A buffered task that has not started within `HOLD_MS` is handed back (nak)
 * for another worker, after this worker's own request on that consumer has
 * ended, so it does not come straight back here.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { TaskPriority } from "@colmena/protocol";
import { counter, histogram, type Logger } from "@colmena/runtime";
import { PRIORITIES, TASKS_STREAM, allCancels, priorityOfRun, workConsumer } from "./events.ts";
import { Puller, StandingPull, type WorkMsg } from "./pull.ts";
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

/** How long a task delivered to a full worker may wait here for a slot before it is handed back. */
const HOLD_MS = 50;

const outcomes = counter("colmena_tasks_attempts_total", "task attempts by type and outcome", ["type", "outcome"]);
const durations = histogram("colmena_tasks_attempt_seconds", "how long task attempts took", ["type"], [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60]);

/** Exponential backoff with equal jitter: half the delay fixed, half random. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + Math.random() * (d / 2));
}

export class Worker {
  private running = new Map<string, (reason: Error) => void>();
  private inflight = new Set<Promise<void>>();
  private stopped = false;
  private subs: Subscription[] = [];
  private puller: Puller | null = null;
  private standing = new Map<TaskPriority, StandingPull>();
  /** Tasks delivered while every slot was taken, by priority, with when they came. */
  private readonly buffer = new Map<TaskPriority, { m: WorkMsg; at: number }[]>(PRIORITIES.map((p) => [p, []]));
  /** The look at the queues under way, if any. */
  private scanning: Promise<void> | null = null;
  private pumpQueued = false;
  private ticker: NodeJS.Timeout | null = null;
  private readonly deps: RunDeps;

  constructor(private readonly opts: WorkerOptions) {
    this.deps = {
      nc: opts.nc,
      log: opts.log,
      taskLog: opts.taskLog,
      types: opts.types,
      workerId: opts.workerId,
      ackWaitMs: opts.ackWaitMs,
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

  private get free(): number {
    return this.opts.concurrency - this.inflight.size;
  }

  private get buffered(): number {
    let n = 0;
    for (const held of this.buffer.values()) n += held.length;
    return n;
  }

  start(): this {
    const { nc } = this.opts;
    const expiresMs = this.opts.requestExpiresMs ?? 2000;
    this.puller = new Puller(nc, (m) => this.delivered(priorityOfRun(m.subject), m));
    for (const p of PRIORITIES) {
      this.standing.set(p, new StandingPull(nc, TASKS_STREAM, workConsumer(p), expiresMs, (m) => this.delivered(p, m), () => this.pump()));
    }
    this.subs.push(
      nc.subscribe(allCancels, {
        callback: (_err, m) => {
          const id = m.subject.split(".").pop()!;
          this.running.get(id)?.(new Cancelled("cancelled by the submitter"));
        },
      }),
    );
    void (async () => {
      for await (const s of nc.status()) if (s.type === "reconnect") for (const sp of this.standing.values()) sp.forget();
    })().catch(() => undefined);
    // Renews requests the server ended silently, and hands back tasks held too long.
    this.ticker = setInterval(() => { this.handBack(); this.pump(); }, Math.max(HOLD_MS, 25));
    this.ticker.unref();
    this.pump();
    this.opts.log.info({ worker: this.id, concurrency: this.opts.concurrency }, "worker started");
    return this;
  }

  /** A message from a standing request: run it now if a slot is free, else hold it briefly. */
  private delivered(p: TaskPriority, m: WorkMsg): void {
    if (this.stopped) { m.nak(); return; }
    if (this.free > 0 && !this.scanning) { this.startTask(m); return; }
    this.buffer.get(p)!.push({ m, at: Date.now() });
  }

  private startTask(m: WorkMsg): void {
    const p = runTask(this.deps, m)
      .catch((err) => this.opts.log.error({ err, worker: this.id }, "task attempt failed unexpectedly; it will be redelivered"))
      .finally(() => { this.inflight.delete(p); this.pump(); });
    this.inflight.add(p);
  }

  /** Decides what to do next; coalesced, so a burst of finished tasks costs one look. */
  private pump(): void {
    if (this.pumpQueued || this.stopped) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      if (this.stopped || this.scanning || this.free <= 0) return;
      if (this.buffered > 0 || [...this.standing.values()].some((sp) => !sp.active)) this.startScan();
    });
  }

  private startScan(): void {
    this.scanning = this.scan().finally(() => {
      this.scanning = null;
      // Tasks that came while the look was under way wait for the next one.
      if (this.buffered > 0) this.pump();
    });
  }

  /**
   * One look at the queues, by priority: this priority's buffered tasks,
   * then a no-wait pull of its consumer for the slots still free.
   */
  private async scan(): Promise<void> {
    for (const p of PRIORITIES) {
      const held = this.buffer.get(p)!;
      while (this.free > 0 && held.length > 0) this.startTask(held.shift()!.m);
      if (this.stopped || this.free <= 0) break;
      const sp = this.standing.get(p)!;
      if (sp.active) continue;
      for (const m of await this.puller!.pullBatch(TASKS_STREAM, workConsumer(p), this.free)) this.startTask(m);
      // Queue drained (or slots full): from now on the server pushes what comes.
      if (this.free > 0) sp.request(this.free);
    }
  }

  /** Tasks held past HOLD_MS go back to the queue; not before this worker's own request there has ended. */
  private handBack(): void {
    if (this.buffered === 0) return;
    const cutoff = Date.now() - HOLD_MS;
    for (const [p, held] of this.buffer) {
      while (held.length > 0 && held[0].at <= cutoff) held.shift()!.m.nak(this.standing.get(p)!.remainingMs());
    }
  }

  /**
   * Stops taking tasks and waits up to `graceMs` for the running ones; then
   * aborts them (each records a retry, so another worker takes it over).
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const s of this.subs) s.unsubscribe();
    for (const sp of this.standing.values()) sp.close();
    for (const held of this.buffer.values()) for (const { m } of held.splice(0)) m.nak();
    await this.scanning;
    this.puller?.close();
    if (this.inflight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      for (const abort of this.running.values()) abort(new Error("worker stopped"));
      await Promise.allSettled([...this.inflight]);
    }
    this.opts.log.info({ worker: this.id }, "worker stopped");
  }
}
