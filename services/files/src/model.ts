/**
 * The files read model (SQLite, folded from FILES): every version of every
 * path, for stat, list, versions, quotas and the blobs' reference counts.
 */
import type Database from "better-sqlite3";
import { sql } from "@colmena/runtime";
import type { FileEvent, VersionEvent } from "./events.ts";

export function migrate(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS versions (
      user TEXT NOT NULL, path TEXT NOT NULL, version INTEGER NOT NULL,
      size INTEGER NOT NULL, sha256 TEXT NOT NULL, content_type TEXT NOT NULL,
      created_at INTEGER NOT NULL, deleted INTEGER NOT NULL,
      PRIMARY KEY (user, path, version)
    );
    CREATE INDEX IF NOT EXISTS versions_sha ON versions (sha256);
  `);
}

export function applyEvent(db: Database.Database, ev: FileEvent): void {
  const deleted = ev.kind === "deleted";
  sql(db, `INSERT OR REPLACE INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(
    ev.user, ev.path, ev.version, deleted ? 0 : ev.size, deleted ? "" : ev.sha256, deleted ? "" : ev.content_type, ev.created_at, deleted ? 1 : 0,
  );
}

/** A version as stored: a deletion marker has size 0 and empty sha256 and content_type. */
export type VersionRow = Omit<VersionEvent, "kind" | "user"> & { deleted: number };

export class FileQueries {
  constructor(private readonly db: Database.Database) {}

  /** One version, or the latest (which may be a deletion marker). */
  version(user: string, path: string, version?: number): VersionRow | undefined {
    return (version === undefined
      ? sql(this.db, `SELECT * FROM versions WHERE user = ? AND path = ? ORDER BY version DESC LIMIT 1`).get(user, path)
      : sql(this.db, `SELECT * FROM versions WHERE user = ? AND path = ? AND version = ?`).get(user, path, version)) as VersionRow | undefined;
  }

  versions(user: string, path: string): VersionRow[] {
    return sql(this.db, `SELECT * FROM versions WHERE user = ? AND path = ? ORDER BY version`).all(user, path) as VersionRow[];
  }

  /** The latest version of each path under `prefix` after `after`, deleted paths left out. */
  list(user: string, prefix: string, after: string, limit: number): VersionRow[] {
    return sql(this.db, `
      SELECT v.* FROM versions v
      JOIN (SELECT path, MAX(version) AS version FROM versions WHERE user = ? AND substr(path, 1, length(?)) = ? AND path > ? GROUP BY path) l
        ON v.path = l.path AND v.version = l.version
      WHERE v.user = ? AND v.deleted = 0 ORDER BY v.path LIMIT ?`).all(user, prefix, prefix, after, user, limit) as VersionRow[];
  }

  /** Bytes a user's versions hold (every version counts: older ones stay readable). */
  usedBytes(user: string): number {
    return (sql(this.db, `SELECT COALESCE(SUM(size), 0) AS n FROM versions WHERE user = ?`).get(user) as { n: number }).n;
  }

  /** How many versions, of any user, name a blob. */
  refCount(sha256: string): number {
    return (sql(this.db, `SELECT COUNT(*) AS n FROM versions WHERE sha256 = ?`).get(sha256) as { n: number }).n;
  }
}
