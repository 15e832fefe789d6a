/**
 * The TASKS stream as entity logs, in the actor style of design.md section
 * 4: names the subjects (a task's events, its run message, the retention
 * marker) and the message ids that make each write happen once. Appending,
 * retrying through outages and recognising our own write after a lost ack
 * are `EntityLog`'s (libs/runtime).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { EntityLog, scheduleHeaders, type AppendResult } from "@colmena/runtime";
import { RELEASE_EARLY_MS, TASKS_STREAM, purgedSubject, runSubject, scheduleSubject, taskSubject, type PurgedMarker, type ReleasedEvent, type TaskEvent, type WorkItem } from "./events.ts";

export type { AppendResult } from "@colmena/runtime";

/** The last event of a task, with its stream sequence. */
export interface LastEvent {
  seq: number;
  ev: TaskEvent;
}

/** From how many appends in one turn a batch pays on nats-server 2.15 (docs/benchmarks.md, tasks). */
const GROUP_COMMIT_MIN = 16;

export class TaskLog {
  private constructor(private readonly log: EntityLog<TaskEvent | PurgedMarker>) {}

  static async open(nc: NatsConnection): Promise<TaskLog> {
    // Group commit: 16 or more submits (or outcomes) in one event-loop turn share one atomic batch, and its fsyncs.
    return new TaskLog(new EntityLog(nc, TASKS_STREAM, { groupCommit: GROUP_COMMIT_MIN }));
  }

  /**
   * Appends an event to the task's subject if its last event there is still
   * at `expectSeq` (0: none yet; undefined: no expectation). `msgId`
   * de-duplicates retries; by default a fresh one per call.
   */
  append(ev: TaskEvent, expectSeq: number | undefined, msgId?: string): Promise<AppendResult> {
    return this.log.append(taskSubject(ev.task_id), ev, expectSeq, msgId);
  }

  /**
   * Makes a task runnable: its run message, on the run subject of its
   * priority, which must not have one yet, so however often a task is
   * released (a resubmit, a new scheduler leader) workers see it once.
   * `{ ok: false }` means it was released before.
   */
  run(item: WorkItem): Promise<AppendResult> {
    // A released task's id may be reused once retention has forgotten it (an idempotency key): its
    // `submitted` sequence tells the generations apart, and is the same on every release of one.
    const msgId = item.kind === "released" ? `${item.task_id}.run.${item.expect}` : `${item.task_id}.run`;
    return this.log.append(runSubject(item.priority, item.task_id), item, 0, msgId);
  }

  /**
   * Makes a recorded task runnable (its run message), or for one due later
   * than RELEASE_EARLY_MS hands the release to the server: a message schedule
   * whose body is the run message, stored on the task's run subject by the
   * stream leader at its time, once (the schedule is then removed), with no
   * instance of ours running. The schedule subject must be empty, and the id
   * is the release's, so a retried or repeated schedule is the same one.
   * `{ ok: false }`: released or scheduled before.
   */
  release(item: ReleasedEvent): Promise<AppendResult> {
    const at = (item.run_at ?? 0) - RELEASE_EARLY_MS;
    if (at <= Date.now()) return this.run(item);
    return this.log.append(scheduleSubject(item.task_id), item, 0, `${item.task_id}.sched.${item.expect}`, { headers: scheduleHeaders(at, runSubject(item.priority, item.task_id)) });
  }

  /** Cancels a delayed task's schedule if it has not fired yet (the task's `cancelled` is recorded first). */
  async unschedule(taskId: string): Promise<void> {
    await this.log.purge(scheduleSubject(taskId));
  }

  /** Tells every read model that the stream holds nothing below `before` any more (retention). */
  async markPurged(before: number): Promise<void> {
    const marker: PurgedMarker = { kind: "purged", before, ts: Date.now() };
    await this.log.append(purgedSubject, marker, undefined, `purged.${before}`);
  }

  /**
   * The last event on the task's subject, or null if it has none (a task
   * submitted plainly has only its run message until a worker or a cancel
   * writes). Read from the stream leader, so it sees every acknowledged
   * append. Retries through a NATS outage.
   */
  async last(taskId: string): Promise<LastEvent | null> {
    const r = await this.log.last(taskSubject(taskId));
    return r ? { seq: r.seq, ev: r.event as TaskEvent } : null;
  }
}
