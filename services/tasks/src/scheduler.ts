/**
 * The due-task scheduler. Delayed tasks wait in the TASKS stream (their
 * `submitted` event names `run_at`); one API instance at a time, the leader,
 * moves each into the work queue when it falls due. Leadership is a KV key
 * with a TTL: the leader refreshes it (an update naming the revision it
 * holds, so two instances can never both believe they refreshed it), the
 * others try to create it, which succeeds only once it has expired or was
 * given up. A release is the task's run message, written expecting that the
 * task has none yet, so a release repeated by a new leader is refused by the
 * stream: each task is released once, ever.
 *
 * The leader also sweeps: an idempotent submit recorded but never released
 * (its API instance died between its two writes) is released. And it
 * forgets the tasks past retention (retention.ts).
 */
import type { KV } from "@nats-io/kv";
import type { Logger } from "@colmena/runtime";
import type { ReleasedEvent } from "./events.ts";
import type { TaskQueries, TaskRow } from "./model.ts";
import { forgetExpired, retentionCheckEveryMs, type RetentionOptions } from "./retention.ts";
import type { TaskLog } from "./task-log.ts";

const LEADER_KEY = "scheduler";
/** Sweep tasks submitted (or due) at least this long ago and still unreleased: their submitter must have died. */
const SWEEP_AFTER_MS = 20_000;
const SWEEP_EVERY_MS = 10_000;

export interface SchedulerOptions {
  kv: KV;
  queries: TaskQueries;
  taskLog: TaskLog;
  instanceId: string;
  ttlMs: number;
  log: Logger;
  /** Forget finished tasks past retention (unset: keep them forever). */
  retention?: RetentionOptions;
}

/** The run message of a task whose `submitted` is on its own subject. */
export function releaseOf(row: TaskRow): ReleasedEvent {
  return {
    kind: "released",
    task_id: row.task_id,
    attempt: row.attempts,
    user_id: row.user_id,
    username: row.username,
    type: row.type,
    input: JSON.parse(row.input),
    priority: row.priority,
    max_attempts: row.max_attempts,
    expect: row.ev_seq,
    ts: Date.now(),
  };
}

export class Scheduler {
  private revision = 0;
  private leading = false;
  private stopped = false;
  private electionTimer: NodeJS.Timeout | null = null;
  private releaseTimer: NodeJS.Timeout | null = null;
  private releaseAt = Infinity;
  private lastSweep = 0;
  /** Every delayed task up to this (run_at, task_id) has been released in this term. */
  private cursor = { at: -1, id: "" };
  private releasing: Promise<void> = Promise.resolve();
  private lastForget = 0;
  private forgetting: Promise<void> | null = null;

  constructor(private readonly opts: SchedulerOptions) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): this {
    void this.elect();
    return this;
  }

  /**
   * Called (after the commit) when a delayed task is recorded: the leader
   * re-arms its timer if the task is due sooner, or releases it at once if
   * the release cursor has already passed its due time.
   */
  delayed(taskId: string, runAt: number): void {
    if (!this.leading) return;
    const c = this.cursor;
    if (runAt < c.at || (runAt === c.at && taskId <= c.id)) {
      const row = this.opts.queries.get(taskId);
      if (row && row.status === "queued" && !row.released) {
        this.releasing = this.releasing.then(() => this.release(row)).catch((err) => this.opts.log.warn({ err, task: taskId }, "could not release a delayed task"));
      }
    } else if (runAt < this.releaseAt) {
      this.arm(runAt);
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.electionTimer = setTimeout(() => void this.elect(), ms);
  }

  private async elect(): Promise<void> {
    const { kv, instanceId, ttlMs, log } = this.opts;
    try {
      if (this.leading) {
        this.revision = await kv.update(LEADER_KEY, instanceId, this.revision);
        if (Date.now() - this.lastSweep >= SWEEP_EVERY_MS) await this.sweep();
        this.forgetExpired();
      } else {
        this.revision = await kv.create(LEADER_KEY, instanceId);
        this.leading = true;
        log.info({ instance: instanceId }, "became the scheduler leader");
        this.cursor = { at: -1, id: "" };
        this.arm(Date.now());
      }
    } catch (err) {
      if (this.leading) {
        log.warn({ instance: instanceId, err: (err as Error).message }, "lost the scheduler leadership");
        this.resign();
      }
    }
    this.schedule(Math.max(200, Math.floor(ttlMs / 3)));
  }

  private resign(): void {
    this.leading = false;
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    this.releaseAt = Infinity;
  }

  private arm(at: number): void {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseAt = at;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = null;
      this.releaseAt = Infinity;
      this.releasing = this.releasing.then(() => this.releaseDue()).catch((err) => {
        this.opts.log.warn({ err }, "releasing due tasks failed; retrying");
        if (this.leading) this.arm(Date.now() + 500);
      });
    }, Math.max(0, at - Date.now()));
  }

  private async release(row: TaskRow): Promise<void> {
    await this.opts.taskLog.run(releaseOf(row));
    this.opts.log.debug({ task: row.task_id, late_ms: Date.now() - (row.run_at ?? 0) }, "released a delayed task");
  }

  /** Releases every delayed task due now, in due order, moving the cursor past each. */
  private async releaseDue(): Promise<void> {
    const { queries } = this.opts;
    while (this.leading) {
      const due = queries.delayedAfter(this.cursor, Date.now());
      for (const row of due) {
        await this.release(row);
        this.cursor = { at: row.run_at!, id: row.task_id };
      }
      if (due.length < 500) break;
    }
    const next = queries.delayedAfter(this.cursor, Number.MAX_SAFE_INTEGER, 1)[0];
    if (next && this.leading) this.arm(next.run_at!);
  }

  private async sweep(): Promise<void> {
    this.lastSweep = Date.now();
    const now = Date.now();
    const rows = this.opts.queries.unreleased(now - SWEEP_AFTER_MS);
    for (const row of rows) await this.opts.taskLog.run(releaseOf(row));
    if (rows.length > 0) this.opts.log.info({ count: rows.length }, "released tasks whose submitter died before releasing them");
  }

  /** Starts a retention pass when one is due; off the election loop, so a long one cannot cost the leadership. */
  private forgetExpired(): void {
    const r = this.opts.retention;
    if (!r || this.forgetting || Date.now() - this.lastForget < retentionCheckEveryMs(r.retentionMs)) return;
    this.lastForget = Date.now();
    this.forgetting = forgetExpired(r)
      // A full batch: the next look comes at the next election round, not after the whole interval.
      .then(({ more }) => { if (more) this.lastForget = 0; }, (err) => this.opts.log.warn({ err }, "forgetting the tasks past retention failed; trying again later"))
      .finally(() => { this.forgetting = null; });
  }

  /** Stops; a leader gives the key up so another instance takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.electionTimer) clearTimeout(this.electionTimer);
    const wasLeader = this.leading;
    this.resign();
    await this.releasing.catch(() => undefined);
    await this.forgetting;
    if (wasLeader) await this.opts.kv.delete(LEADER_KEY, { previousSeq: this.revision }).catch(() => undefined);
  }
}
