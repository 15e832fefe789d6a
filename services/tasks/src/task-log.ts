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
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError } from "@colmena/protocol";
import { TASKS_STREAM, encode, purgedSubject, runSubject, taskSubject, type PurgedMarker, type TaskEvent, type WorkItem } from "./events.ts";
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

/** `Nats-Msg-Id` from a raw headers block ("NATS/1.0\r\nName: value\r\n..."). */
function msgIdOf(raw: string | undefined): string {
  const m = raw ? /\r\nNats-Msg-Id:\s*([^\r]*)\r\n/i.exec(raw) : null;
  return m ? m[1].trim() : "";
}

/** Default message ids: unique per process and call, without asking the OS for randomness each time. */
const processTag = randomBytes(6).toString("hex");
let appends = 0;

export class TaskLog {
  private constructor(readonly js: JsPublisher) {}

  static async open(nc: NatsConnection): Promise<TaskLog> {
    return new TaskLog(new JsPublisher(nc));
  }

  /**
   * Appends an event to the task's subject if its last event there is still
   * at `expectSeq` (0: none yet; undefined: no expectation). `msgId`
   * de-duplicates retries; by default a fresh one per call.
   */
  append(ev: TaskEvent, expectSeq: number | undefined, msgId?: string): Promise<AppendResult> {
    return this.write(taskSubject(ev.task_id), ev, expectSeq, msgId);
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
    return this.write(runSubject(item.priority, item.task_id), item, 0, msgId);
  }

  /** Tells every read model that the stream holds nothing below `before` any more (retention). */
  async markPurged(before: number): Promise<void> {
    const marker: PurgedMarker = { kind: "purged", before, ts: Date.now() };
    await throughOutages(`record the purge below ${before}`, () => this.js.publish(purgedSubject, encode(marker), { msgId: `purged.${before}` }));
  }

  private async write(subject: string, ev: TaskEvent, expectSeq: number | undefined, msgId = `${ev.task_id}.${ev.kind}.${processTag}${(++appends).toString(36)}`): Promise<AppendResult> {
    const body = encode(ev);
    return throughOutages(`record ${ev.kind} of task ${ev.task_id}`, async (): Promise<AppendResult> => {
      try {
        const ack = await this.js.publish(subject, body, { msgId, lastSubjectSequence: expectSeq });
        return { ok: true, seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (!isWrongLastSeq(err)) throw err;
        // Our own earlier try may have landed before its ack was lost.
        const last = await this.lastRaw(subject);
        if (last && last.msgId === msgId) return { ok: true, seq: last.seq, duplicate: true };
        return { ok: false, conflict: true };
      }
    }, (err) => err instanceof JetStreamApiError);
  }

  /**
   * The last event on the task's subject, or null if it has none (a task
   * submitted plainly has only its run message until a worker or a cancel
   * writes). Read from the stream leader, so it sees every acknowledged
   * append. Retries through a NATS outage.
   */
  async last(taskId: string): Promise<LastEvent | null> {
    const r = await this.lastRaw(taskSubject(taskId));
    return r ? { seq: r.seq, ev: r.ev } : null;
  }

  private lastRaw(subject: string): Promise<(LastEvent & { msgId: string }) | null> {
    return throughOutages(`read ${subject}`, async () => {
      const m = await this.js.lastBySubject(TASKS_STREAM, subject);
      return m ? { seq: m.seq, ev: JSON.parse(m.data.toString("utf8")) as TaskEvent, msgId: msgIdOf(m.headers) } : null;
    });
  }
}

/**
 * Runs `op`, retrying with growing pauses through a NATS outage (a cluster
 * electing a new leader takes seconds) for up to RETRY_FOR_MS; an error
 * `fatal` says is final ends it at once. Ends as `unavailable` (a ColmenaError
 * from `op`, already one, passes through).
 */
async function throughOutages<T>(what: string, op: () => Promise<T>, fatal: (err: unknown) => boolean = () => false): Promise<T> {
  const deadline = Date.now() + RETRY_FOR_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (err instanceof ColmenaError) throw err;
      if (fatal(err) || Date.now() > deadline) throw new ColmenaError("unavailable", `could not ${what}: ${(err as Error).message}`, { cause: err });
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
  }
}
