/**
 * The API's read model: the TASKS stream folded into one SQLite row per
 * task. `apply` is deterministic (times come from the events, never from the
 * clock) and a finished task never changes again, whatever arrives later.
 *
 * Besides `last_seq` (the task's last event anywhere, for read-your-writes)
 * a row keeps `ev_seq`, the last sequence on the task's own subject (what
 * the next append there must expect; 0 while it has only its run message),
 * and `released`, whether its run message exists or is scheduled (a
 * delayed task's schedule message is a `released` event too: from then on
 * the server releases it; the leader's sweep releases those that have neither).
 */
import type Database from "better-sqlite3";
import type { TaskRecord, TaskStatus } from "@colmena/protocol";
import type { SubmittedEvent, TaskEvent } from "./events.ts";

export function migrate(db: Database.Database): void {
  db.exec(`
    -- submit_seq is the rowid: rows are stored in submit order (an append per task, and retention's
    -- scans in that order), with no index of their own; task_id is a unique index.
    CREATE TABLE IF NOT EXISTS tasks (
      submit_seq INTEGER PRIMARY KEY,
      task_id TEXT NOT NULL UNIQUE,
      user_id TEXT NOT NULL,
      username TEXT NOT NULL,
      last_seq INTEGER NOT NULL,
      ev_seq INTEGER NOT NULL,
      released INTEGER NOT NULL,
      last_kind TEXT NOT NULL,
      type TEXT NOT NULL,
      status TEXT NOT NULL,
      input TEXT NOT NULL,
      result TEXT,
      error TEXT,
      worker TEXT,
      attempts INTEGER NOT NULL,
      max_attempts INTEGER NOT NULL,
      priority TEXT NOT NULL,
      run_at INTEGER,
      progress REAL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    -- No index on status: every event changes it, and a user's list filtered by status walks tasks_by_user.
    CREATE INDEX IF NOT EXISTS tasks_by_user ON tasks (user_id, submit_seq);
    CREATE INDEX IF NOT EXISTS tasks_unreleased ON tasks (run_at, task_id) WHERE released = 0;
  `);
}

const TERMINAL: ReadonlySet<string> = new Set(["done", "failed", "cancelled"]);
/** The same statuses as an SQL list, for the statements below. */
const TERMINAL_SQL = `(${[...TERMINAL].map((s) => `'${s}'`).join(", ")})`;

type Update = Exclude<TaskEvent, SubmittedEvent>;
type UpdateKind = Update["kind"];

/**
 * What each kind of event sets, beyond the position every event moves
 * (last_seq, last_kind, updated_at, and ev_seq for events on the task's own
 * subject), and the values of its `?`s. A finished task keeps its state:
 * only its position moves. Positional parameters: binding an object by
 * name cost a third of the update.
 */
const KIND_UPDATES: { [K in UpdateKind]: { sets: string; args(ev: Extract<Update, { kind: K }>): unknown[] } } = {
  released: { sets: "released = 1", args: () => [] },
  started: { sets: "status = 'running', attempts = ?, worker = ?, progress = NULL", args: (ev) => [ev.attempt, ev.worker] },
  progress: { sets: "progress = ?", args: (ev) => [ev.progress] },
  retry: { sets: "status = 'queued', attempts = ?, error = ?", args: (ev) => [ev.attempt, ev.error] },
  done: {
    sets: "status = 'done', attempts = ?, result = ?, worker = ?, error = NULL, progress = 1",
    args: (ev) => [ev.attempt, JSON.stringify(ev.result ?? null), ev.worker],
  },
  failed: { sets: "status = 'failed', attempts = ?, error = ?", args: (ev) => [ev.attempt, ev.error] },
  cancelled: { sets: "status = 'cancelled'", args: () => [] },
};

interface FoldStatements {
  insert: Database.Statement;
  forget: Database.Statement;
  /** Per kind: the update of a live task, and the position-only update of a finished one. */
  live: Record<UpdateKind, Database.Statement>;
  finished: Record<UpdateKind, Database.Statement>;
}

/** Statements prepared once per database (SQLite re-prepares them itself if the schema is rebuilt). */
const prepared = new WeakMap<Database.Database, FoldStatements>();

/** A run message is not on the task's subject: only the other kinds move ev_seq. */
const movesEvSeq = (kind: UpdateKind) => kind !== "released";

function statements(db: Database.Database): FoldStatements {
  let st = prepared.get(db);
  if (!st) {
    const live = {} as FoldStatements["live"];
    const finished = {} as FoldStatements["finished"];
    for (const [kind, { sets }] of Object.entries(KIND_UPDATES) as [UpdateKind, { sets: string }][]) {
      const position = `last_seq = ?, last_kind = ?, updated_at = ?${movesEvSeq(kind) ? ", ev_seq = ?" : ""}`;
      live[kind] = db.prepare(`UPDATE tasks SET ${position}, ${sets} WHERE task_id = ? AND status NOT IN ${TERMINAL_SQL}`);
      finished[kind] = db.prepare(`UPDATE tasks SET ${position} WHERE task_id = ?`);
    }
    st = {
      // A second `submitted` of a finished task, later in the stream, is a new task under the same id: an
      // idempotency key whose task retention forgot (its subjects purged) before this model folded the marker.
      // The same event folded again changes nothing (its submit_seq is taken).
      insert: db.prepare(
        `INSERT INTO tasks (task_id, user_id, username, submit_seq, last_seq, ev_seq, released, last_kind, type, status, input,
           attempts, max_attempts, priority, run_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'submitted', ?, 'queued', ?, 0, ?, ?, ?, ?, ?)
         ON CONFLICT (submit_seq) DO NOTHING
         ON CONFLICT (task_id) DO UPDATE SET user_id = excluded.user_id, username = excluded.username,
           submit_seq = excluded.submit_seq, last_seq = excluded.last_seq, ev_seq = excluded.ev_seq, released = excluded.released,
           last_kind = 'submitted', type = excluded.type, status = 'queued', input = excluded.input, result = NULL, error = NULL,
           worker = NULL, attempts = 0, max_attempts = excluded.max_attempts, priority = excluded.priority, run_at = excluded.run_at,
           progress = NULL, created_at = excluded.created_at, updated_at = excluded.updated_at
         WHERE excluded.submit_seq > tasks.submit_seq AND tasks.status IN ${TERMINAL_SQL}`,
      ),
      forget: db.prepare("DELETE FROM tasks WHERE submit_seq < ?"),
      live,
      finished,
    };
    prepared.set(db, st);
  }
  return st;
}

/** Folds one event into its row; `onRunSubject`: it came on `tasks.ev.run.*` (a run message). */
export function applyEvent(db: Database.Database, seq: number, ev: TaskEvent, onRunSubject: boolean): void {
  const st = statements(db);
  if (ev.kind === "submitted") {
    const [evSeq, released] = onRunSubject ? [0, 1] : [seq, 0];
    st.insert.run(ev.task_id, ev.user_id, ev.username, seq, seq, evSeq, released, ev.type, JSON.stringify(ev.input), ev.max_attempts, ev.priority, ev.run_at ?? null, ev.ts, ev.ts);
    return;
  }
  if (!Object.hasOwn(KIND_UPDATES, ev.kind)) return; // a kind this version does not know
  const update = KIND_UPDATES[ev.kind] as { args(ev: Update): unknown[] };
  const position = movesEvSeq(ev.kind) ? [seq, ev.kind, ev.ts, seq] : [seq, ev.kind, ev.ts];
  if (st.live[ev.kind].run(...position, ...update.args(ev), ev.task_id).changes === 0) st.finished[ev.kind].run(...position, ev.task_id);
}

/** Folds a retention marker: the stream holds nothing below `before`, so neither does the model. */
export function forgetBefore(db: Database.Database, before: number): void {
  statements(db).forget.run(before);
}

export interface TaskRow {
  task_id: string;
  user_id: string;
  username: string;
  submit_seq: number;
  last_seq: number;
  ev_seq: number;
  released: number;
  last_kind: string;
  type: string;
  status: TaskStatus;
  input: string;
  result: string | null;
  error: string | null;
  worker: string | null;
  attempts: number;
  max_attempts: number;
  priority: TaskRecord["priority"];
  run_at: number | null;
  progress: number | null;
  created_at: number;
  updated_at: number;
}

export function isTerminal(status: string): boolean {
  return TERMINAL.has(status);
}

/** The wire form of a row (protocol.md section 5, plus priority, max_attempts, run_at, progress). */
export function toRecord(r: TaskRow): TaskRecord {
  const rec: TaskRecord = {
    task_id: r.task_id,
    type: r.type,
    status: r.status,
    input: JSON.parse(r.input),
    attempts: r.attempts,
    max_attempts: r.max_attempts,
    priority: r.priority,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
  if (r.result !== null) rec.result = JSON.parse(r.result);
  if (r.error !== null) rec.error = r.error;
  if (r.worker !== null) rec.worker = r.worker;
  if (r.run_at !== null) rec.run_at = r.run_at;
  if (r.progress !== null) rec.progress = r.progress;
  return rec;
}

/** Read-side queries, with their statements prepared once. */
export class TaskQueries {
  private readonly one: Database.Statement;
  private readonly stale: Database.Statement;
  private readonly needed: Database.Statement;
  private readonly nth: Database.Statement;
  private readonly straddling: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.one = db.prepare("SELECT * FROM tasks WHERE task_id = ?");
    this.stale = db.prepare(
      `SELECT * FROM tasks WHERE released = 0 AND status = 'queued'
         AND COALESCE(run_at, created_at) <= ? ORDER BY submit_seq LIMIT ?`,
    );
    this.needed = db.prepare(
      `SELECT submit_seq FROM tasks WHERE status NOT IN ${TERMINAL_SQL} OR updated_at >= ?
         ORDER BY submit_seq LIMIT 1`,
    ).pluck();
    this.nth = db.prepare("SELECT submit_seq FROM tasks ORDER BY submit_seq LIMIT 1 OFFSET ?").pluck();
    this.straddling = db.prepare("SELECT task_id, priority FROM tasks WHERE submit_seq < ? AND last_seq >= ?");
  }

  /** The submit sequence of the oldest task still needed: unfinished, or finished at or after `endedBefore`. */
  firstNeeded(endedBefore: number): number | undefined {
    return this.needed.get(endedBefore) as number | undefined;
  }

  /** The submit sequence of the task with `n` tasks submitted before it, if there are that many (0: the oldest task). */
  submitSeqAt(n: number): number | undefined {
    return this.nth.get(n) as number | undefined;
  }

  /** Tasks submitted below `seq` with events at or above it (a purge below `seq` leaves those behind). */
  straddlers(seq: number): Pick<TaskRow, "task_id" | "priority">[] {
    return this.straddling.all(seq, seq) as Pick<TaskRow, "task_id" | "priority">[];
  }

  get(taskId: string): TaskRow | undefined {
    return this.one.get(taskId) as TaskRow | undefined;
  }

  /** A user's tasks, newest first, before a submit sequence (the page cursor). */
  list(userId: string, opts: { status?: TaskStatus; before?: number; limit: number }): TaskRow[] {
    const where = ["user_id = ?"];
    const args: unknown[] = [userId];
    if (opts.status) { where.push("status = ?"); args.push(opts.status); }
    if (opts.before) { where.push("submit_seq < ?"); args.push(opts.before); }
    return this.db
      .prepare(`SELECT * FROM tasks WHERE ${where.join(" AND ")} ORDER BY submit_seq DESC LIMIT ?`)
      .all(...args, opts.limit) as TaskRow[];
  }

  /** Tasks due by `until` and never released (their API instance died between two writes): to release. */
  unreleased(until: number, limit = 1000): TaskRow[] {
    return this.stale.all(until, limit) as TaskRow[];
  }
}
