/**
 * Read-model snapshots in a JetStream object store (issue 16 item 3): a
 * replica now and then copies its SQLite file (an online backup of committed
 * state: the tables and the meta row with the stream sequence they cover)
 * to the object `<model name>`; a new replica with no file of its own starts
 * from that copy and folds only the tail. The copy is a cache like the file
 * itself: ReadModel checks its meta against the stream as for any file
 * (stream recreated, filter or version changed, events purged under it: it
 * rebuilds).
 *
 * Lock-free, newest wins: a writer puts its copy only when the stored one
 * covers a lower sequence (read from the object's metadata). Two writers
 * racing both hold valid snapshots; whichever lands last stays, and the next
 * round replaces it with a newer one.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, StorageType, type ObjectStore } from "@nats-io/obj";
import type { Logger } from "pino";
import { counter, histogram } from "./metrics.ts";
import { META_TABLE } from "./read-model-meta.ts";
import { retryWhileForming } from "./streams.ts";

export interface SnapshotOptions {
  /** The object store bucket (one per service, in libs/protocol's BUCKETS). */
  bucket: string;
  /** Write a snapshot after this many events folded since the last one (default 50,000). */
  everyEvents?: number;
  /** ... but at most this often (default 60 s). */
  minIntervalMs?: number;
  replicas?: number;
}

const SEQ_KEY = "seq";
const written = counter("colmena_read_model_snapshots_written_total", "snapshots a replica put in the object store", ["model"]);
const restored = counter("colmena_read_model_snapshots_restored_total", "replicas that started from a snapshot", ["model"]);
const copySeconds = histogram("colmena_read_model_snapshot_seconds", "time to copy and upload a snapshot", ["model"], [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

async function storeOf(nc: NatsConnection, opts: SnapshotOptions): Promise<ObjectStore> {
  return retryWhileForming(() => new Objm(nc).create(opts.bucket, { storage: StorageType.File, replicas: opts.replicas ?? 1 }));
}

/**
 * Before a model opens: when it has no file yet, the newest snapshot becomes
 * its file. Returns the sequence the snapshot covers (0: none used).
 */
export async function restoreSnapshot(nc: NatsConnection, file: string, name: string, opts: SnapshotOptions, log: Logger): Promise<number> {
  if (file === ":memory:" || existsSync(file)) return 0;
  try {
    const os = await storeOf(nc, opts);
    const info = await os.info(name);
    if (!info || info.deleted) return 0;
    const bytes = await os.getBlob(name);
    if (!bytes) return 0;
    for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    writeFileSync(file, bytes);
    const seq = Number(info.metadata?.[SEQ_KEY] ?? 0);
    restored.inc({ model: name });
    log.info({ model: name, seq, bytes: bytes.byteLength }, "read model starts from a snapshot");
    return seq;
  } catch (err) {
    // No snapshot is no harm: the model folds from the start, as it always could.
    log.warn({ err, model: name }, "could not restore a read-model snapshot");
    rmSync(file, { force: true });
    return 0;
  }
}

/** Decides when to snapshot, and writes a snapshot (one at a time). */
export class SnapshotWriter {
  private lastSeq = 0;
  private lastAt = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly name: string,
    private readonly opts: SnapshotOptions,
    private readonly log: Logger,
    /** The model's SQLite file (WAL): copied through a connection of its own, which sees only committed state. */
    private readonly file: string,
    startSeq: number,
  ) {
    this.lastSeq = startSeq;
    this.lastAt = Date.now();
  }

  /** Called after a commit: starts a snapshot when enough was folded since the last one. */
  maybe(seq: number): void {
    if (this.running || seq - this.lastSeq < (this.opts.everyEvents ?? 50_000)) return;
    if (Date.now() - this.lastAt < (this.opts.minIntervalMs ?? 60_000)) return;
    this.running = this.write(seq).finally(() => (this.running = undefined));
  }

  /** Waits for a snapshot under way (close). */
  settle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Copies the committed state (SQLite's online backup, step by step) and puts it unless a newer one is there. */
  async write(seq: number): Promise<void> {
    const t0 = performance.now();
    this.lastSeq = seq;
    this.lastAt = Date.now();
    const tmpFile = `${this.file}.snapshot`;
    let src: Database.Database | undefined;
    try {
      src = new Database(this.file, { readonly: true, fileMustExist: true });
      await src.backup(tmpFile);
      src.close();
      src = undefined;
      // The copy covers what the backup saw committed: its meta row says which sequence.
      const copy = readFileSync(tmpFile);
      const covered = seqOfCopy(tmpFile) ?? seq;
      const os = await storeOf(this.nc, this.opts);
      const current = await os.info(this.name);
      if (current && !current.deleted && Number(current.metadata?.[SEQ_KEY] ?? 0) >= covered) return;
      await os.putBlob({ name: this.name, metadata: { [SEQ_KEY]: String(covered) } }, copy);
      written.inc({ model: this.name });
      copySeconds.observe({ model: this.name }, (performance.now() - t0) / 1000);
      this.log.info({ model: this.name, seq: covered, bytes: copy.byteLength, ms: Math.round(performance.now() - t0) }, "read-model snapshot written");
    } catch (err) {
      this.log.warn({ err, model: this.name }, "could not write a read-model snapshot");
    } finally {
      src?.close();
      rmSync(tmpFile, { force: true });
    }
  }
}

/** The sequence recorded in a copy's meta row (read on a connection of its own: the model's holds a transaction open). */
function seqOfCopy(copyFile: string): number | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(copyFile, { readonly: true });
    const row = db.prepare(`SELECT last_seq AS seq FROM ${META_TABLE} WHERE id = 1`).get() as { seq?: number } | undefined;
    return row?.seq;
  } catch {
    return undefined;
  } finally {
    db?.close();
  }
}
