/**
 * A worker: runs up to `concurrency` tasks at once, taken from the three
 * priority consumers of the work queue. Whenever slots are free it asks the
 * `high` consumer for as many messages as there are free slots, then
 * `normal` for what is left, then `low` (one no-wait pull each), so under
 * load a waiting high task always goes before normal and low ones. When
 * every queue is empty it sleeps until a message is published on the work
 * subjects (a core subscription wakes it) or a short poll interval passes
 * (redeliveries after a nak or ack_wait publish nothing); a freed slot wakes
 * it only when the last look stopped for lack of slots, since otherwise the
 * queues were empty and any publish since has woken it anyway.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { counter, histogram, type Logger } from "@colmena/runtime";
import { PRIORITIES, WORK_STREAM, allCancels, allWork, workConsumer } from "./events.ts";
import { Puller, type WorkMsg } from "./pull.ts";
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
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How often an idle worker looks for redelivered messages. Default 250 ms. */
  pollMs?: number;
}

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
  private wake: (() => void) | null = null;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  private subs: Subscription[] = [];
  private puller: Puller | null = null;
  /** A look at the queues is under way. */
  private scanning = false;
  /** The last look stopped because every slot was taken, not because the queues were empty. */
  private saturated = false;
  private readonly deps: RunDeps;

  constructor(private readonly opts: WorkerOptions) {
    this.deps = {
      nc: opts.nc,
      log: opts.log,
      taskLog: opts.taskLog,
      types: opts.types,
      workerId: opts.workerId,
      ackWaitMs: opts.ackWaitMs,
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

  start(): this {
    const { nc } = this.opts;
    this.puller = new Puller(nc);
    this.subs.push(nc.subscribe(allWork, { callback: () => this.kick() }));
    this.subs.push(
      nc.subscribe(allCancels, {
        callback: (_err, m) => {
          const id = m.subject.split(".").pop()!;
          this.running.get(id)?.(new Cancelled("cancelled by the submitter"));
        },
      }),
    );
    this.loop = this.run();
    this.opts.log.info({ worker: this.id, concurrency: this.opts.concurrency }, "worker started");
    return this;
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** A slot freed: look at the queues again only if the last look may have left messages there. */
  private slotFreed(): void {
    if (this.scanning || this.saturated) this.kick();
  }

  private startTask(m: WorkMsg): void {
    const p = runTask(this.deps, m)
      .catch((err) => this.opts.log.error({ err, worker: this.id }, "task attempt failed unexpectedly; it will be redelivered"))
      .finally(() => { this.inflight.delete(p); this.slotFreed(); });
    this.inflight.add(p);
  }

  /**
   * One look at the queues: as many messages as there are free slots from
   * `high`, the rest from `normal`, then `low` (one no-wait pull each).
   * Returns whether it stopped for lack of slots (so queues may hold more).
   */
  private async scan(): Promise<boolean> {
    for (const p of PRIORITIES) {
      const free = this.opts.concurrency - this.inflight.size;
      if (this.stopped || free <= 0) return free <= 0;
      for (const m of await this.puller!.pullBatch(WORK_STREAM, workConsumer(p), free)) this.startTask(m);
    }
    return this.inflight.size >= this.opts.concurrency;
  }

  private async run(): Promise<void> {
    const pollMs = this.opts.pollMs ?? 250;
    while (!this.stopped) {
      let kicked = false;
      // Arm the wake-up before pulling, so a publish during the pulls is not missed.
      const woken = new Promise<void>((r) => (this.wake = () => { kicked = true; r(); }));
      this.scanning = true;
      try {
        this.saturated = await this.scan();
      } finally {
        this.scanning = false;
      }
      if (this.stopped || kicked) continue;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([woken, new Promise<void>((r) => (timer = setTimeout(r, pollMs)))]);
      clearTimeout(timer);
    }
  }

  /**
   * Stops taking tasks and waits up to `graceMs` for the running ones; then
   * aborts them (each records a retry, so another worker takes it over).
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.subs) s.unsubscribe();
    this.kick();
    await this.loop;
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
