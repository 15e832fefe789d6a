/**
 * The bookkeeping row of a read model: which stream (by its creation time),
 * which filter and schema version it was folded with, and the last stream
 * sequence applied. It lives in the same SQLite file and is written in the
 * same transaction as the events it describes, so the two never disagree.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { colmenaHome } from "./paths.ts";

export const META_TABLE = "_colmena_meta";

export interface ReadModelMeta {
  /** The stream's `created` timestamp: a different value means the stream was deleted and recreated. */
  streamCreated: string;
  /** The filter subjects and schema version the tables were built with, as one key. */
  shape: string;
  lastSeq: number;
}

/** What the stream says about itself (`STREAM.INFO`, answered by its leader: `leader` is that server's name, when clustered), for `staleReason`. */
export interface StreamState { created: string; firstSeq: number; lastSeq: number; leader?: string }

/** Why stored tables no longer describe this stream (so they must be rebuilt), or undefined. */
export function staleReason(meta: ReadModelMeta, s: StreamState, shape: string, purgesMarked = false): string | undefined {
  if (meta.streamCreated !== s.created) return "stream recreated";
  if (meta.shape !== shape) return "filter or version changed";
  if (meta.lastSeq > s.lastSeq) return "stream went backwards";
  if (!purgesMarked && meta.lastSeq > 0 && s.firstSeq > meta.lastSeq + 1) return "unapplied events purged";
  return undefined;
}

export function ensureMetaTable(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS ${META_TABLE} (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stream_created TEXT NOT NULL,
    shape TEXT NOT NULL,
    last_seq INTEGER NOT NULL
  )`);
}

export function readMeta(db: Database.Database): ReadModelMeta | undefined {
  const row = db.prepare(`SELECT stream_created, shape, last_seq FROM ${META_TABLE} WHERE id = 1`).get() as
    | { stream_created: string; shape: string; last_seq: number }
    | undefined;
  return row && { streamCreated: row.stream_created, shape: row.shape, lastSeq: row.last_seq };
}

/** A prepared upsert of the meta row, to run inside each flush transaction. */
export function metaWriter(db: Database.Database): (meta: ReadModelMeta) => void {
  const stmt = db.prepare(
    `INSERT INTO ${META_TABLE} (id, stream_created, shape, last_seq) VALUES (1, @streamCreated, @shape, @lastSeq)
     ON CONFLICT (id) DO UPDATE SET stream_created = excluded.stream_created, shape = excluded.shape, last_seq = excluded.last_seq`,
  );
  return (meta) => { stmt.run(meta); };
}

/**
 * Drops every table, view and trigger except the meta table, so `migrate`
 * can build an empty schema again. The connection stays open: prepared
 * statements held by the service re-prepare once their tables exist again.
 */
export function dropUserSchema(db: Database.Database): void {
  const objects = db
    .prepare(`SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite_%' AND name != ?`)
    .all(META_TABLE) as { type: string; name: string }[];
  const fk = db.pragma("foreign_keys", { simple: true }) as number;
  // Foreign keys would make the drop order matter; they are all going.
  db.pragma("foreign_keys = OFF");
  try {
    db.transaction(() => {
      for (const o of objects.filter((x) => x.type === "trigger")) db.exec(`DROP TRIGGER IF EXISTS "${o.name}"`);
      for (const o of objects.filter((x) => x.type === "view")) db.exec(`DROP VIEW IF EXISTS "${o.name}"`);
      for (const o of objects.filter((x) => x.type === "table")) db.exec(`DROP TABLE IF EXISTS "${o.name}"`);
      db.exec(`DELETE FROM ${META_TABLE}`);
    })();
  } finally {
    if (fk) db.pragma("foreign_keys = ON");
  }
}

/**
 * Where an instance keeps a service's read model:
 * `${dataDir ?? colmenaHome()/data}/${service}-${instance}.sqlite`, `dataDir`
 * being the service's `COLMENA_DATA_DIR` setting. Creates the folder.
 */
export function readModelFile(service: string, instance: string, dataDir?: string): string {
  const dir = dataDir ?? join(colmenaHome(), "data");
  mkdirSync(dir, { recursive: true });
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, "_");
  return join(dir, `${safe(service)}-${safe(instance)}.sqlite`);
}

/** Read model files claimed in this process, so two instances of a service in one process never share one. */
const claimed = new Set<string>();

/**
 * This instance's read-model file (`readModelFile`), claimed for this process
 * until `release()`: a second instance of the same service and instance name
 * in one process (tests, the one-process runner) gets `<instance>-2`, and so on.
 */
export function claimReadModelFile(service: string, instance: string, dataDir?: string): { file: string; release(): void } {
  const fileOf = (n: number) => readModelFile(service, n === 1 ? instance : `${instance}-${n}`, dataDir);
  let n = 1;
  while (claimed.has(fileOf(n))) n++;
  const file = fileOf(n);
  claimed.add(file);
  return { file, release: () => void claimed.delete(file) };
}
