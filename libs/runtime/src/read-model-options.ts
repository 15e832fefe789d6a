/** What a read model is given (`ReadModelOptions`) and what its `apply` sees of each stream message (`StoredEvent`). */
import type { JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type Database from "better-sqlite3";
import type { Logger } from "pino";
import type { SnapshotOptions } from "./read-model-snapshot.ts";

/** One stream message as `apply` sees it. */
export interface StoredEvent {
  seq: number;
  subject: string;
  data: Uint8Array;
  json<T = unknown>(): T;
  headers?: MsgHdrs;
  /** When the stream stored it, ms since the epoch. */
  time: number;
}

export interface ReadModelOptions {
  nc: NatsConnection;
  stream: string;
  /** Only these subjects are folded (several need nats-server 2.10). Default: the whole stream. */
  filterSubjects?: string[];
  /** SQLite path (WAL mode); ":memory:" allowed. */
  file: string;
  /** For logs and metrics. */
  name: string;
  /** Creates the schema: `CREATE TABLE IF NOT EXISTS ...`. Runs at open and after every wipe. */
  migrate(db: Database.Database): void;
  /**
   * Folds one event, inside a batched transaction. It must be deterministic
   * (a batch may be folded twice: see `flush`), and so must anything it
   * schedules be harmless to repeat. If it throws, that event's changes are
   * rolled back (a savepoint), the error is logged and counted, and folding
   * goes on.
   */
  apply(db: Database.Database, ev: StoredEvent): void;
  log: Logger;
  /** Bump when `apply` or the schema changes meaning: a different value rebuilds the tables. Default 1. */
  version?: number;
  /**
   * The service follows every purge of its stream with an event whose fold
   * removes exactly what was purged, so a model behind a purge resumes
   * instead of rebuilding. Default false.
   */
  purgesMarked?: boolean;
  /**
   * How often the stream is checked while running: its identity and first
   * sequence (rebuild on a mismatch), and whether the consumer still makes
   * progress (restart it when the stream is ahead and nothing moved since the
   * last check). Default 5 s.
   */
  checkIntervalMs?: number;
  /**
   * Events are folded as they arrive, inside a transaction that is
   * committed at most this long after it began (0: a commit per batch).
   * Reads on this model's connection see the folded events at once, so
   * `waitFor` is not delayed; a commit per batch would cost far more CPU
   * and disk (each writes whole pages to the WAL). A crash loses at most
   * this much folding, with its position: the restart folds it again.
   * Default 25 ms.
   */
  commitEveryMs?: number;
  /**
   * Snapshots in an object store: a replica with no file starts from the
   * newest one and folds the tail; every replica writes one now and then
   * (read-model-snapshot.ts). Default: none.
   */
  snapshots?: SnapshotOptions;
}

/** A JsMsg seen as a StoredEvent. Headers and time are decoded only if `apply` asks (most never do; decoding them was a fifth of the fold's CPU). */
class StoredJsEvent implements StoredEvent {
  constructor(private readonly m: JsMsg) {}
  get seq(): number { return this.m.seq; }
  get subject(): string { return this.m.subject; }
  get data(): Uint8Array { return this.m.data; }
  get headers(): MsgHdrs | undefined { return this.m.headers; }
  get time(): number { return this.m.time.getTime(); }
  json<T = unknown>(): T { return this.m.json<T>(); }
}

export function storedEvent(m: JsMsg): StoredEvent {
  return new StoredJsEvent(m);
}
