/**
 * The tasks leader: one API instance at a time sweeps and forgets.
 * Delayed tasks need no leader: each is a JetStream message schedule
 * (task-log.ts `schedule`), released by the server at its due time.
 * Leadership is a KV key with a TTL: the leader refreshes it (an update
 * naming the revision it holds, so two instances can never both believe
 * they refreshed it), the others try to create it, which succeeds only once
 * it has expired or was given up.
 *
 * The leader sweeps: a task recorded but neither released nor scheduled (an
 * idempotent or delayed submit whose API instance died between its two
 * writes) is released once due, expecting that it has no run message yet,
 * so a release repeated by a new leader is refused by the stream. And it
 * forgets the tasks past retention (retention.ts).
 */
import type { KV } from "@nats-io/kv";
import { retentionCheckEveryMs, type Logger } from "@colmena/runtime";
import type { ReleasedEvent } from "./events.ts";
import type { TaskQueries, TaskRow } from "./model.ts";
import { forgetExpired, type RetentionOptions } from "./retention.ts";
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
    ...(row.run_at !== null ? { run_at: row.run_at } : {}),
    ts: Date.now(),
  };
}

export class Scheduler {
  private revision = 0;
  private leading = false;
  private stopped = false;
  private electionTimer: NodeJS.Timeout | null = null;
  private lastSweep = 0;
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
        log.info({ instance: instanceId }, "became the tasks leader");
      }
    } catch (err) {
      if (this.leading) {
        log.warn({ instance: instanceId, err: (err as Error).message }, "lost the tasks leadership");
        this.leading = false;
      }
    }
    this.schedule(Math.max(200, Math.floor(ttlMs / 3)));
  }

  private async sweep(): Promise<void> {
    this.lastSweep = Date.now();
    const now = Date.now();
    const rows = this.opts.queries.unreleased(now - SWEEP_AFTER_MS);
    for (const row of rows) await this.opts.taskLog.release(releaseOf(row));
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
    this.leading = false;
    await this.forgetting;
    if (wasLeader) await this.opts.kv.delete(LEADER_KEY, { previousSeq: this.revision }).catch(() => undefined);
  }
}
