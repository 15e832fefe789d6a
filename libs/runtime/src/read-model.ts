/**
 * A per-instance SQLite read model folded from a JetStream stream (design.md
 * section 4). An ordered consumer feeds events into batched transactions;
 * each transaction also records the last applied stream sequence, so a
 * restart resumes where it stopped, and `waitFor(seq)` gives read-your-writes
 * whichever replica answers.
 *
 * When the tables are thrown away and rebuilt from sequence 1:
 * - the SQLite file is missing (it is a cache);
 * - the stream was deleted and recreated (its `created` time changed);
 * - the stream's first sequence moved past our last applied + 1 (a purge or
 *   retention removed events we never applied): the state would mix old
 *   effects with missing events, so we rebuild to exactly what a fresh
 *   replica builds from the stream as it is now. Purges of events we had
 *   already applied keep their effects (like a snapshot): services that must
 *   forget state write tombstone events instead of purging, or follow each
 *   purge with an event whose fold forgets what it removed (`purgesMarked`:
 *   then resuming past a purge is as good as rebuilding);
 * - the stream went backwards (its last sequence is below ours);
 * - `filterSubjects` or `version` changed.
 */
import { dirname } from "node:path";
import { mkdirSync } from "node:fs";
import Database from "better-sqlite3";
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { ColmenaError } from "@colmena/protocol";
import { counter, gauge } from "./metrics.ts";
import { dropUserSchema, ensureMetaTable, metaWriter, readMeta, staleReason, type ReadModelMeta, type StreamState } from "./read-model-meta.ts";
import { Checkpointer } from "./checkpointer.ts";
import { SeqWaiters } from "./seq-waiters.ts";
import { SnapshotWriter, restoreSnapshot } from "./read-model-snapshot.ts";
import { storedEvent, type ReadModelOptions, type StoredEvent } from "./read-model-options.ts";

export { claimReadModelFile, readModelFile } from "./read-model-meta.ts";
export type { ReadModelOptions, StoredEvent } from "./read-model-options.ts";

const appliedSeq = gauge("colmena_read_model_seq", "last stream sequence applied to the read model", ["model"]);
const eventsApplied = counter("colmena_read_model_events_total", "events folded into the read model", ["model"]);
const applyErrors = counter("colmena_read_model_apply_errors_total", "events whose apply threw (skipped)", ["model"]);
const rebuilds = counter("colmena_read_model_rebuilds_total", "times the read model was wiped and rebuilt", ["model", "reason"]);

/** Flush inside the message callback once this many events wait, to bound memory during catch-up. */
const MAX_BATCH = 5000;

export class ReadModel {
  readonly db: Database.Database;
  private seq = 0;
  private streamCreated = "";
  private readonly shape: string;
  private readonly writeMeta: (meta: ReadModelMeta) => void;
  private readonly applyOne: (ev: StoredEvent) => void;
  private readonly waiters = new SeqWaiters();
  private readonly checkpointer: Checkpointer | null;
  private buffer: JsMsg[] = [];
  private flushScheduled = false;
  /** The open transaction's commit timer (see `commitEveryMs`). */
  private commitTimer: NodeJS.Timeout | null = null;
  /** A position the consumer reported (heartbeat) beyond the last event: nothing of ours lies at or below it. */
  private scanned = 0;
  /**
   * The current consumer's delivery sequence of the last event it handed
   * us. A heartbeat's position is trusted only when it counts exactly these
   * deliveries (see `watch`).
   */
  private delivered = 0;
  /** Catch-up bookkeeping of the current consumer: events it owed at creation (infinite: unknown), and the stream's last seq then. */
  private owed = 0;
  private target = 0;
  private generation = 0;
  private messages: ConsumerMessages | null = null;
  private syncing: Promise<void> = Promise.resolve();
  private checkQueued = false;
  /** `seq` at the previous periodic check, to spot a consumer that stalled silently. */
  private seqAtLastCheck = -1;
  private timer: NodeJS.Timeout | null = null;
  /** `nudgeIfStuck`'s pending check, one at a time. */
  private nudge: NodeJS.Timeout | undefined;
  private closed = false;
  private snapshotter: SnapshotWriter | undefined;

  private constructor(private readonly opts: ReadModelOptions) {
    if (opts.file !== ":memory:") mkdirSync(dirname(opts.file), { recursive: true });
    this.db = new Database(opts.file);
    this.db.pragma("journal_mode = WAL");
    // A cache rebuilt from the stream: losing the last transactions on power loss is harmless.
    this.db.pragma("synchronous = NORMAL");
    // Statement journals (an upsert or a multi-row update inside the long transaction needs one) and
    // temporary b-trees in memory, not in files under /var/tmp: on disk each cost a few writes per statement.
    this.db.pragma("temp_store = MEMORY");
    this.checkpointer = Checkpointer.start(this.db, opts.file);
    ensureMetaTable(this.db);
    this.writeMeta = metaWriter(this.db);
    this.shape = JSON.stringify({ filter: opts.filterSubjects ?? [], version: opts.version ?? 1 });
    // One savepoint per event, so a throwing `apply` undoes only its own changes.
    this.applyOne = this.db.transaction((ev: StoredEvent) => opts.apply(this.db, ev));
  }

  /** Opens the file, migrates, and folds until caught up with the stream's last sequence at open time. */
  static async open(opts: ReadModelOptions): Promise<ReadModel> {
    const fromSnapshot = opts.snapshots ? await restoreSnapshot(opts.nc, opts.file, opts.name, opts.snapshots, opts.log) : 0;
    const rm = new ReadModel(opts);
    if (opts.snapshots && opts.file !== ":memory:") rm.snapshotter = new SnapshotWriter(opts.nc, opts.name, opts.snapshots, opts.log, opts.file, fromSnapshot);
    try {
      await rm.start();
      await rm.waitFor(rm.target, Infinity);
      opts.log.info({ model: opts.name, seq: rm.seq }, "read model caught up");
      return rm;
    } catch (err) {
      await rm.close();
      throw err;
    }
  }

  /** The last stream sequence this model has applied (or scanned past). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Resolves once `lastSeq >= seq`; throws ColmenaError `unavailable` after `timeoutMs` (default 5000). */
  waitFor(seq: number, timeoutMs = 5000): Promise<void> {
    if (this.seq >= seq) return Promise.resolve();
    if (this.closed) return Promise.reject(new ColmenaError("unavailable", `read model ${this.opts.name} is closed`));
    this.nudgeIfStuck(Math.min(1500, timeoutMs / 3));
    return this.waiters.add(seq, timeoutMs, () =>
      new ColmenaError("unavailable", `read model ${this.opts.name} did not reach seq ${seq} in ${timeoutMs} ms (at ${this.seq})`));
  }

  /**
   * A waiter's sequence is stored (its writer had the stream's ack), so a
   * model that has not moved at all while one waits has a stalled consumer:
   * seen on a cluster still forming, when a stream's leader moved under a
   * fresh consumer. Restart it now rather than at the next periodic check,
   * which may come after the waiter gave up. A consumer that is merely busy
   * moves, and is left alone.
   */
  private nudgeIfStuck(afterMs: number): void {
    if (this.nudge) return;
    const at = this.seq;
    this.nudge = setTimeout(() => {
      this.nudge = undefined;
      // Looked at again while anyone waits (a waiter leaves when served or when it gives up).
      if (this.closed || this.waiters.size === 0) return;
      if (this.seq === at) {
        this.opts.log.warn({ model: this.opts.name, at, waiters: this.waiters.size }, "read model did not move while writes waited for it; restarting its consumer");
        this.resync(true);
      }
      this.nudgeIfStuck(afterMs);
    }, afterMs);
    this.nudge.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    clearTimeout(this.nudge);
    this.generation++;
    await this.messages?.close().catch(() => undefined);
    await this.syncing.catch(() => undefined);
    await this.snapshotter?.settle();
    this.waiters.rejectAll(new ColmenaError("unavailable", `read model ${this.opts.name} is closed`));
    if (this.db.open) {
      this.commit();
      await this.checkpointer?.stop();
      this.db.close();
    }
  }

  /** Migrates, checks the stored state against the stream, and starts the consumer. */
  private async start(): Promise<void> {
    const { db, opts } = this;
    opts.migrate(db);
    const stream = await this.streamState();
    const meta = readMeta(db);
    this.streamCreated = stream.created;
    const reason = meta && staleReason(meta, stream, this.shape, opts.purgesMarked);
    if (reason) this.wipe(reason, meta.lastSeq);
    else if (meta) this.seq = meta.lastSeq;
    if (!meta || reason) db.transaction(() => this.writeMeta(this.metaAt(this.seq)))();
    appliedSeq.set({ model: opts.name }, this.seq);
    await this.consume(stream);
    const every = opts.checkIntervalMs ?? 5_000;
    this.timer = setInterval(() => this.resync(false), every);
    this.timer.unref();
  }

  private async streamState(): Promise<StreamState> {
    const jsm = await jetstreamManager(this.opts.nc);
    const si = await jsm.streams.info(this.opts.stream);
    return { created: si.created, firstSeq: si.state.first_seq, lastSeq: si.state.last_seq, leader: si.cluster?.leader };
  }

  private metaAt(lastSeq: number): ReadModelMeta {
    return { streamCreated: this.streamCreated, shape: this.shape, lastSeq };
  }

  /** Drops the tables and migrates again; folding restarts from sequence 1. */
  private wipe(reason: string, was: number): void {
    this.commit();
    this.opts.log.warn({ model: this.opts.name, reason, was }, "read model rebuilt from the stream");
    rebuilds.inc({ model: this.opts.name, reason });
    dropUserSchema(this.db);
    this.opts.migrate(this.db);
    this.seq = 0;
    this.scanned = 0;
    this.db.transaction(() => this.writeMeta(this.metaAt(0)))();
  }

  /** Starts an ordered consumer from `lastSeq + 1`; `stream` is the stream's state as just read from its leader. */
  private async consume(stream: StreamState): Promise<void> {
    const gen = ++this.generation;
    this.delivered = 0;
    const js = jetstream(this.opts.nc);
    const filter = this.opts.filterSubjects;
    const consumer = await js.consumers.get(this.opts.stream, {
      ...(filter && filter.length > 0 ? { filter_subjects: filter.length === 1 ? filter[0] : filter } : {}),
      opt_start_seq: this.seq + 1,
    });
    const info = await consumer.info(true);
    // Once the events the consumer owed at creation are folded, the model is at the stream's last seq
    // (`target`), past any tail outside the filter. That holds only if the consumer counted them on the
    // replica that gave `target`: nats-server places an ephemeral consumer on any replica, and a follower
    // that lags (one catching up after a restart) counts fewer, so jumping to `target` would skip the
    // events it has yet to receive, for good. On another replica the debt is unknown: the model moves only
    // with what it receives and the heartbeats' scan positions.
    const sameReplica = !stream.leader || !info.cluster?.leader || info.cluster.leader === stream.leader;
    this.owed = sameReplica ? info.num_pending : Number.POSITIVE_INFINITY;
    this.target = stream.lastSeq;
    if (this.owed === 0) this.advance(stream.lastSeq);
    // expires 5 s gives idle heartbeats every 2.5 s: they carry the consumer's
    // scan position, which moves lastSeq past events outside our filter.
    const messages = await consumer.consume({
      max_messages: 1000,
      expires: 5000,
      callback: (m) => {
        if (gen !== this.generation) return;
        this.delivered = m.info.deliverySequence;
        this.buffer.push(m);
        if (this.buffer.length >= MAX_BATCH) this.flush();
        else this.scheduleFlush();
      },
    });
    this.messages = messages;
    // Closed (or superseded) while the consumer was being created: do not leak it.
    if (this.closed || gen !== this.generation) {
      await messages.close().catch(() => undefined);
      return;
    }
    void this.watch(messages, gen);
  }

  /** Consumer notifications: positions from heartbeats, and identity checks after the consumer was recreated. */
  private async watch(messages: ConsumerMessages, gen: number): Promise<void> {
    void messages.closed().then((err) => {
      if (gen !== this.generation || this.closed || this.opts.nc.isClosed()) return;
      this.opts.log.warn({ model: this.opts.name, err }, "read model consumer stopped; restarting");
      setTimeout(() => this.resync(true), 1000).unref();
    });
    for await (const s of messages.status()) {
      if (gen !== this.generation) return;
      if (s.type === "heartbeat") {
        // Events delivered while our connection was down are gone (an ordered
        // consumer takes no acks), yet the consumer's position has passed them:
        // trusting it would skip them for good. So a heartbeat moves us only
        // if we received every delivery it counts; one that counts more
        // restarts the consumer from our own position.
        if (s.lastConsumerSequence > this.delivered) {
          this.opts.log.warn({ model: this.opts.name, at: this.seq, delivered: this.delivered, consumer: s.lastConsumerSequence }, "read model missed deliveries; restarting its consumer");
          this.resync(true);
        } else if (s.lastConsumerSequence === this.delivered && s.lastStreamSequence > this.scanned) {
          this.scanned = s.lastStreamSequence;
          this.scheduleFlush();
        }
      } else if (s.type === "ordered_consumer_recreated" || s.type === "stream_not_found" || s.type === "consumer_deleted") {
        this.opts.log.info({ model: this.opts.name, event: s.type }, "read model consumer event");
        this.resync(false);
      }
    }
  }

  /**
   * Serialised: compares the stream's identity and first sequence with ours
   * and rebuilds on a mismatch; with `restart`, starts a new consumer anyway.
   */
  private resync(restart: boolean): void {
    if (this.closed) return;
    if (!restart && this.checkQueued) return;
    if (!restart) this.checkQueued = true;
    this.syncing = this.syncing.then(async () => {
      if (!restart) this.checkQueued = false;
      if (this.closed) return;
      try {
        this.flush();
        const before = this.seq;
        const s = await this.streamState();
        if (this.closed) return;
        const reason = s.created !== this.streamCreated ? "stream recreated" : staleReason(this.metaAt(before), s, this.shape, this.opts.purgesMarked);
        // A consumer can stall without closing or reporting anything (seen when
        // a cluster node holding it dies): the stream is ahead of us and we
        // have not moved since the last check, so start a new one.
        const stalled = s.lastSeq > before && before === this.seqAtLastCheck;
        this.seqAtLastCheck = before;
        if (stalled && !reason && !restart) this.opts.log.warn({ model: this.opts.name, at: before, stream: s.lastSeq }, "read model consumer stalled; restarting");
        if (!reason && !restart && !stalled) return;
        this.generation++;
        await this.messages?.close().catch(() => undefined);
        this.messages = null;
        if (reason) {
          this.buffer = [];
          this.streamCreated = s.created;
          this.wipe(reason, this.seq);
        } else {
          this.flush();
        }
        await this.consume(s);
      } catch (err) {
        // Stream missing or NATS away: the next notification or tick checks again.
        this.opts.log.warn({ model: this.opts.name, err: String(err) }, "read model resync failed");
        if (restart) setTimeout(() => this.resync(true), 2000).unref();
      }
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Opens the long transaction unless one is open; `commit` ends it. */
  private begin(): void {
    const every = this.opts.commitEveryMs ?? 25;
    if (every <= 0 || this.commitTimer || this.db.inTransaction) return;
    this.db.exec("BEGIN");
    this.commitTimer = setTimeout(() => this.commit(), every);
  }

  /** Ends the long transaction, with the position it reached (flushes inside it leave the meta row to this). */
  private commit(): void {
    if (!this.commitTimer) return;
    clearTimeout(this.commitTimer);
    this.commitTimer = null;
    if (!this.db.open || !this.db.inTransaction) return;
    this.writeMeta(this.metaAt(this.seq));
    this.db.exec("COMMIT");
    this.snapshotter?.maybe(this.seq);
  }

  /** Writes a snapshot of what is committed now (tests, benchmarks; replicas snapshot by themselves). */
  async snapshot(): Promise<void> {
    this.commit();
    await this.snapshotter?.write(this.seq);
  }

  /** Applies everything received since the last flush in one transaction, with the new position. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || !this.db.open) return;
    if (this.buffer.length === 0 && this.scanned <= this.seq && !(this.owed <= 0 && this.target > this.seq)) return;
    this.begin();
    const batch = this.buffer;
    this.buffer = [];
    const { db, opts } = this;
    const one = this.applyOne;
    // Inside the long transaction each batch is a savepoint.
    // Plain applies first; if one throws, the whole batch is rolled back and
    // folded again with a savepoint per event, so only that event is skipped
    // (a savepoint per event always would cost about a sixth of the fold).
    const fold = (isolated: boolean) =>
      db.transaction(() => {
        let pos = this.seq;
        let applied = 0;
        let fresh = 0;
        for (const m of batch) {
          if (m.seq <= pos) continue; // already applied (a consumer restart overlapped)
          fresh++;
          if (!isolated) {
            opts.apply(db, storedEvent(m));
            applied++;
          } else {
            try {
              one(storedEvent(m));
              applied++;
            } catch (err) {
              applyErrors.inc({ model: opts.name });
              opts.log.error({ model: opts.name, seq: m.seq, subject: m.subject, err }, "read model apply failed; event skipped");
            }
          }
          pos = m.seq;
        }
        // Only new events pay off the catch-up debt: a duplicate must not let
        // `pos` jump to the target past events not yet received.
        if (this.owed - fresh <= 0) pos = Math.max(pos, this.target);
        pos = Math.max(pos, this.scanned);
        // Inside the long transaction the position is written once, at its commit.
        if (pos !== this.seq && !this.commitTimer) this.writeMeta(this.metaAt(pos));
        return { pos, applied, fresh };
      })();
    let r: ReturnType<typeof fold>;
    try {
      r = fold(false);
    } catch {
      r = fold(true);
    }
    this.owed -= r.fresh;
    if (r.applied > 0) eventsApplied.inc({ model: opts.name }, r.applied);
    this.setSeq(r.pos);
  }

  private advance(seq: number): void {
    if (seq <= this.seq) return;
    this.db.transaction(() => this.writeMeta(this.metaAt(seq)))();
    this.setSeq(seq);
  }

  private setSeq(seq: number): void {
    this.seq = seq;
    appliedSeq.set({ model: this.opts.name }, seq);
    this.waiters.resolveUpTo(seq);
  }
}
