/**
 * The entity log: how a service writes the events that make each of its
 * entities an actor (design.md section 4). An entity is one subject of the
 * service's stream (`auth.ev.user.<name>`, `tasks.ev.task.<id>`, later chat
 * rooms, file paths, notify subscriptions); its state is its last event.
 *
 * - A write is conditional: it names the sequence of the entity's last event
 *   it expects (`Nats-Expected-Last-Subject-Sequence`; 0: the entity must not
 *   exist yet), so of two writers racing on one entity exactly one wins and
 *   the other gets `{ ok: false, conflict: true }`, re-reads and decides.
 * - Every write carries a `Nats-Msg-Id`: the caller's, for a write that must
 *   happen once however often it is retried, else a fresh one per call.
 * - A try that got no answer (a NATS node restarting, a leader election, a
 *   dropped connection, a 429 from nats-server 2.11+'s per-stream ingest
 *   limit) is retried with the same id for up to `retryForMs`, then ends as
 *   `unavailable`. Within the stream's duplicate window the retry is
 *   de-duplicated by the id; after it, a wrong-last-sequence answer whose
 *   entity's last event carries our id is our own earlier try that landed
 *   with its ack lost: success, `duplicate: true`.
 * - With `groupCommit` (the stream needs `allow_atomic`), the appends made in
 *   one event-loop turn, when that many, go as one atomic batch (nats-server 2.12+), so they
 *   share the stream's fsyncs at `sync_interval: always` and its replication
 *   round. Each keeps its own id and expectation; since one failed
 *   expectation (or a duplicate id) refuses the whole batch, a refused or
 *   unanswered batch falls back to writing each of its appends alone, as
 *   without it: the others land, and that one gets its conflict.
 * - Reads (`last`) come from the stream leader (`STREAM.MSG.GET`, not a
 *   direct get that a lagging replica could answer), so they see every
 *   acknowledged write, and retry the same way.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError } from "@colmena/protocol";
import { JsPublisher, MAX_ATOMIC_BATCH, type BatchMsg, type StoredMessage } from "./js-publisher.ts";

/** The last event of an entity, with its stream sequence. */
export interface LastEvent<E> {
  seq: number;
  event: E;
}

/**
 * The outcome of an append: stored at `seq` (`duplicate`: by an earlier try
 * or call with the same message id), or refused because the entity's last
 * sequence was no longer the one expected.
 */
export type AppendResult = { ok: true; seq: number; duplicate: boolean } | { ok: false; conflict: true };

/** More of a write: headers beyond the id and the expectation (a message schedule's: `scheduleHeaders`). */
export interface AppendOptions {
  headers?: Readonly<Record<string, string>>;
}

/**
 * The headers that make a write a one-shot JetStream message schedule
 * (ADR-51, nats-server 2.12+; the stream needs `allow_msg_schedules`): at
 * `at` the stream leader stores the message's body (and its other headers)
 * on `target`, a subject of the same stream, and removes the schedule. The
 * schedule subject holds one schedule; purging it before `at` cancels it.
 */
export function scheduleHeaders(at: number, target: string): Record<string, string> {
  return { "Nats-Schedule": `@at ${new Date(at).toISOString()}`, "Nats-Schedule-Target": target };
}

export interface EntityLogOptions {
  /** How long a write or read keeps retrying through an outage (default 30 s: a cluster electing a new leader takes seconds). */
  retryForMs?: number;
  /** How long one try waits for JetStream's answer (default 5 s, as the JetStream client's). */
  answerTimeoutMs?: number;
  /**
   * Group commit: when one event-loop turn makes at least this many appends,
   * write them as one atomic batch (the stream must have `allow_atomic`);
   * unset, every append goes alone. nats-server 2.15 stages each atomic batch
   * of a one-replica file stream in a file store of its own (about 1.5 ms of
   * its CPU), which only pays from about 16 messages at `sync_interval:
   * always` (64 at the default): see docs/benchmarks.md, tasks.
   */
  groupCommit?: number;
}

/** An append waiting for the end of the turn, to go in its batch. */
interface Queued extends BatchMsg {
  body: string;
  msgId: string;
  resolve(r: AppendResult): void;
  reject(err: unknown): void;
}

/** Whether a write was refused because its expected last sequence did not hold (a KV `create` of a key that exists, a stale `update`). */
export const isWrongLastSeq = (err: unknown) =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/**
 * Whether a failed try may succeed when repeated: no answer at all (outage,
 * election, dropped connection, timeout), the stream's ingest queue full
 * (429 `JSStreamTooManyRequests`: the message was dropped, never stored) or
 * JetStream between leaders (503). Any other refusal is final.
 */
const retryable = (err: unknown) => !(err instanceof JetStreamApiError) || err.status === 429 || err.status === 503;

/** `Nats-Msg-Id` from a raw headers block ("NATS/1.0\r\nName: value\r\n..."). */
function msgIdOf(raw: string | undefined): string {
  const m = raw ? /\r\nNats-Msg-Id:\s*([^\r]*)\r\n/i.exec(raw) : null;
  return m ? m[1].trim() : "";
}

/** Default message ids: unique per process and call, without asking the OS for randomness each time. */
const processTag = randomBytes(6).toString("hex");
let appends = 0;
let batches = 0;

/**
 * Appends JSON events of type `E` to entities (subjects) of one stream and
 * reads their last events. One per stream and connection; cheap to hold.
 */
export class EntityLog<E> {
  private readonly js: JsPublisher;
  private readonly retryForMs: number;
  private readonly groupCommit: number;
  /** This turn's appends (group commit), written when it ends. */
  private queued: Queued[] | null = null;

  constructor(private readonly nc: NatsConnection, readonly stream: string, opts: EntityLogOptions = {}) {
    this.js = new JsPublisher(nc, opts.answerTimeoutMs);
    this.retryForMs = opts.retryForMs ?? 30_000;
    this.groupCommit = opts.groupCommit ?? 0;
  }

  /**
   * Appends `event` to the entity `subject` if its last event is still at
   * `expectSeq` (0: it has none yet; undefined: no expectation, the write
   * always lands). `msgId` makes the write idempotent: give one derived from
   * what the write is (the same on every retry of the same operation, by any
   * instance), or leave it out for a fresh one per call.
   */
  append(subject: string, event: E, expectSeq: number | undefined, msgId = `${processTag}.${(++appends).toString(36)}`, opts: AppendOptions = {}): Promise<AppendResult> {
    const body = JSON.stringify(event);
    // A write with headers of its own (a message schedule) goes alone: batches take plain writes.
    if (this.groupCommit < 2 || opts.headers) return this.appendAlone(subject, body, expectSeq, msgId, opts);
    return new Promise((resolve, reject) => {
      if (!this.queued) {
        this.queued = [];
        setImmediate(() => this.commitTurn());
      }
      this.queued.push({ subject, body, msgId, lastSubjectSequence: expectSeq, resolve, reject });
    });
  }

  /** Writes this turn's appends: alone when few, else as atomic batches, each refused batch append by append. */
  private commitTurn(): void {
    const queued = this.queued ?? [];
    this.queued = null;
    const alone = (q: Queued) => this.appendAlone(q.subject, q.body, q.lastSubjectSequence, q.msgId).then(q.resolve, q.reject);
    for (let i = 0; i < queued.length; i += MAX_ATOMIC_BATCH) {
      const batch = queued.slice(i, i + MAX_ATOMIC_BATCH);
      if (batch.length < this.groupCommit) { batch.forEach((q) => void alone(q)); continue; }
      this.js.publishBatch(`${processTag}.${(++batches).toString(36)}`, batch).then(
        (ack) => batch.forEach((q, k) => q.resolve({ ok: true, seq: ack.seq - batch.length + 1 + k, duplicate: false })),
        // Refused (a failed expectation or a repeated id in it, the stream busy): nothing of it was stored.
        // Unanswered: it may have been, and the same ids make each repeat land once.
        () => batch.forEach((q) => void alone(q)),
      );
    }
  }

  private async appendAlone(subject: string, body: string, expectSeq: number | undefined, msgId: string, opts: AppendOptions = {}): Promise<AppendResult> {
    let deadline = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.js.publish(subject, body, msgId, expectSeq, opts.headers);
        return { ok: true, seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (isWrongLastSeq(err)) return this.recognise(subject, msgId);
        deadline ||= Date.now() + this.retryForMs;
        await this.pause(err, attempt, deadline, `append to ${subject}`);
      }
    }
  }

  /** Removes every event of the entity `subject` (a schedule before its time: cancelled); retries through an outage. */
  purge(subject: string): Promise<number> {
    return this.retrying(`purge ${subject}`, () => this.js.purgeSubject(this.stream, subject));
  }

  /** The last event of the entity `subject`, or null when it has none. */
  async last(subject: string): Promise<LastEvent<E> | null> {
    const m = await this.read(subject);
    return m ? { seq: m.seq, event: JSON.parse(m.data.toString("utf8")) as E } : null;
  }

  /**
   * A conditional write was refused. If the entity's last event is ours (an
   * earlier try landed, its ack lost, and the duplicate window is over), the
   * write succeeded; otherwise someone else's write came first. Only the
   * last event is looked at: ours followed by another's is a conflict.
   */
  private async recognise(subject: string, msgId: string): Promise<AppendResult> {
    const last = await this.read(subject);
    if (last && msgIdOf(last.headers) === msgId) return { ok: true, seq: last.seq, duplicate: true };
    return { ok: false, conflict: true };
  }

  private read(subject: string): Promise<StoredMessage | null> {
    return this.retrying(`read ${subject}`, () => this.js.lastBySubject(this.stream, subject));
  }

  /** A request that changes nothing when repeated (a read, a purge), tried until it is answered. */
  private async retrying<T>(what: string, once: () => Promise<T>): Promise<T> {
    let deadline = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await once();
      } catch (err) {
        deadline ||= Date.now() + this.retryForMs;
        await this.pause(err, attempt, deadline, what);
      }
    }
  }

  /**
   * Waits before the next try (growing, jittered pauses, so writers refused
   * together by a full ingest queue do not come back together), or ends the
   * retries: a final refusal is `internal` (a bug, not a race or an outage);
   * an outage that outlasts the deadline, or a closed connection, is `unavailable`.
   */
  private async pause(err: unknown, attempt: number, deadline: number, what: string): Promise<void> {
    if (!retryable(err)) throw new ColmenaError("internal", `${this.stream} refused to ${what}: ${(err as Error).message}`, { cause: err });
    if (this.nc.isClosed() || Date.now() > deadline) {
      throw new ColmenaError("unavailable", `could not ${what} in ${this.stream}: ${(err as Error).message}`, { cause: err });
    }
    await sleep(Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2));
  }
}
