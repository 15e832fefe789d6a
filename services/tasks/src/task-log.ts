/**
 * Appends to and reads the TASKS stream, one task subject at a time, in the
 * actor style of design.md section 4: every append names the sequence of the
 * task's last event it expects (`lastSubjectSequence`), so of two writers
 * racing on a task exactly one wins, and the loser re-reads and decides.
 * Appends survive a NATS node restarting: they are retried with the same
 * `Nats-Msg-Id`, and an append whose first try landed is recognised as ours.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError } from "@colmena/protocol";
import { TASKS_STREAM, encode, taskSubject, type TaskEvent } from "./events.ts";
import { JsPublisher } from "./js-publish.ts";

/** The last event of a task, with its stream sequence. */
export interface LastEvent {
  seq: number;
  ev: TaskEvent;
}

export type AppendResult = { ok: true; seq: number; duplicate: boolean } | { ok: false; conflict: true };

const isWrongLastSeq = (err: unknown) =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/** How long appends keep retrying through a NATS outage (a cluster electing a new leader takes seconds). */
const RETRY_FOR_MS = 30_000;

/** Default message ids: unique per process and call, without asking the OS for randomness each time. */
const processTag = randomBytes(6).toString("hex");
let appends = 0;

export class TaskLog {
  private constructor(readonly js: JsPublisher, readonly jsm: JetStreamManager) {}

  static async open(nc: NatsConnection): Promise<TaskLog> {
    return new TaskLog(new JsPublisher(nc), await jetstreamManager(nc));
  }

  /**
   * Appends an event if the task's last event is still at `expectSeq` (0: the
   * task must not exist yet; undefined: no expectation). `msgId` de-duplicates
   * retries; by default a fresh one per call.
   */
  async append(ev: TaskEvent, expectSeq: number | undefined, msgId = `${ev.task_id}.${ev.kind}.${processTag}${(++appends).toString(36)}`): Promise<AppendResult> {
    const subject = taskSubject(ev.task_id);
    const body = encode(ev);
    const deadline = Date.now() + RETRY_FOR_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.js.publish(subject, body, { msgId, lastSubjectSequence: expectSeq });
        return { ok: true, seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (isWrongLastSeq(err)) {
          // Our own earlier try may have landed before its ack was lost.
          const last = await this.lastRaw(ev.task_id);
          if (last && last.msgId === msgId) return { ok: true, seq: last.seq, duplicate: true };
          return { ok: false, conflict: true };
        }
        if (err instanceof JetStreamApiError || Date.now() > deadline) {
          throw new ColmenaError("unavailable", `could not record ${ev.kind} of task ${ev.task_id}: ${(err as Error).message}`, { cause: err });
        }
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  /** The task's last event, or null if it has none. Retries through a NATS outage. */
  async last(taskId: string): Promise<LastEvent | null> {
    const r = await this.lastRaw(taskId);
    return r ? { seq: r.seq, ev: r.ev } : null;
  }

  private async lastRaw(taskId: string): Promise<(LastEvent & { msgId: string }) | null> {
    const deadline = Date.now() + RETRY_FOR_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        const m = await this.jsm.streams.getMessage(TASKS_STREAM, { last_by_subj: taskSubject(taskId) });
        if (!m) return null;
        return { seq: m.seq, ev: m.json<TaskEvent>(), msgId: m.header?.get("Nats-Msg-Id") ?? "" };
      } catch (err) {
        if (/no message found|not found/i.test(String((err as Error).message)) && !/stream not found/i.test(String((err as Error).message))) return null;
        if (Date.now() > deadline) throw new ColmenaError("unavailable", `could not read task ${taskId}: ${(err as Error).message}`, { cause: err });
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  /** Publishes to the work queue, de-duplicated by `msgId` within the stream's window; retried through outages. */
  async enqueue(subject: string, body: string, msgId: string): Promise<void> {
    const deadline = Date.now() + RETRY_FOR_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.js.publish(subject, body, { msgId });
        return;
      } catch (err) {
        if (err instanceof JetStreamApiError || Date.now() > deadline) {
          throw new ColmenaError("unavailable", `could not queue task: ${(err as Error).message}`, { cause: err });
        }
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }
}
