/**
 * The read model: the NOTIFY stream folded into SQLite, with the topic index
 * kept beside it in memory. Folding is deterministic and in stream order, so
 * every replica derives the same inboxes.
 *
 * A notification is stored once, and so is inbox membership: not as a row
 * per recipient but as each subscription's span of the stream, from the
 * sequence that stored it to the one that removed it. A user's inbox is
 * every notification inside one of their spans whose topic the span's
 * pattern matches (src/queries.ts): what matched from the moment they
 * subscribed, the same on every replica. A notification to 10,000 users is
 * one row, where a row per recipient was 10,000 (most of this service's CPU
 * per delivery). The fold still matches each notification against the topic
 * index, for the fan-out's recipients (kept in memory for the recent ones)
 * and the email deliveries, which are rows since each becomes a job.
 */
import type Database from "better-sqlite3";
import { sql } from "@colmena/runtime";
import { RESERVED_TOPIC_ROOTS, userTopicToken, type NotificationRecord, type NotifyChannel } from "@colmena/protocol";
import type { StoredEvent } from "@colmena/runtime";
import { kindOf, type NoteEvent, type PurgedMarker, type ReadEvent, type SubscriptionEvent, type SubscriptionSpec } from "./events.ts";
import type { InboxSignals } from "./inbox-signals.ts";
import { TopicIndex } from "./topic-index.ts";

export interface Subscription extends SubscriptionSpec {
  created_at: number;
}

const RESERVED: ReadonlySet<string> = new Set(RESERVED_TOPIC_ROOTS);

/** The user a reserved topic belongs to (its second token), or undefined for an open topic. */
export function reservedOwner(topic: string): string | undefined {
  const [root, owner] = topic.split(".");
  return RESERVED.has(root) ? (owner ?? "") : undefined;
}
export const isReserved = (topic: string) => reservedOwner(topic) !== undefined;

/** Whether a notification on `topic` may reach `username`: open topics anyone's, a reserved one only its owner's. */
export function mayReceive(topic: string, username: string): boolean {
  const owner = reservedOwner(topic);
  return owner === undefined || owner === userTopicToken(username);
}

const subKey = (userId: string, topic: string) => `${userId}\u0000${topic}`;

export interface NoteRow { seq: number; notification_id: string; topic: string; title: string; body: string | null; data: string | null; ts: number; read: number }

export function toRecord(r: NoteRow): NotificationRecord {
  return {
    notification_id: r.notification_id,
    topic: r.topic,
    title: r.title,
    ...(r.body !== null ? { body: r.body } : {}),
    ...(r.data !== null ? { data: JSON.parse(r.data) as unknown } : {}),
    ts: r.ts,
    read: r.read === 1,
  };
}

/** The read model's schema version: a file of another version is rebuilt from the stream. */
export const MODEL_VERSION = 3;

/**
 * The recipients of the notifications folded last, for the fan-out: a fold
 * matched them already. A fan-out of an older one (after a restart, or a
 * long redelivery) asks the spans instead (`NotifyQueries.recipients`).
 */
export class RecentRecipients {
  private readonly byId = new Map<string, string[]>();
  private held = 0;

  constructor(private readonly maxUsers = 1_000_000) {}

  get(id: string): string[] | undefined {
    return this.byId.get(id);
  }

  set(id: string, users: string[]): void {
    if (this.byId.has(id)) return;
    this.byId.set(id, users);
    this.held += users.length + 1;
    for (const [old, u] of this.byId) {
      if (this.held <= this.maxUsers || old === id) break;
      this.byId.delete(old);
      this.held -= u.length + 1;
    }
  }

  clear(): void {
    this.byId.clear();
    this.held = 0;
  }
}

export class NotifyModel {
  readonly index = new TopicIndex<Subscription>();
  readonly recent = new RecentRecipients();

  /** `signals` hears of every user a folded notification reaches (the HTTP event streams wait on it). */
  constructor(private readonly signals?: InboxSignals) {}

  /** Creates the schema and loads the index from it (at open, and after every rebuild). */
  migrate = (db: Database.Database): void => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS subs (
        user_id TEXT NOT NULL, topic TEXT NOT NULL, username TEXT NOT NULL, channels TEXT NOT NULL,
        email TEXT, digest_s INTEGER, created_at INTEGER NOT NULL, PRIMARY KEY (user_id, topic)
      );
      -- A subscription's life in stream sequences: its notifications are those in (from_seq, to_seq).
      CREATE TABLE IF NOT EXISTS spans (
        user_id TEXT NOT NULL, topic TEXT NOT NULL, username TEXT NOT NULL, from_seq INTEGER NOT NULL, to_seq INTEGER,
        PRIMARY KEY (user_id, topic, from_seq)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS notes (
        seq INTEGER PRIMARY KEY, notification_id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL, title TEXT NOT NULL,
        body TEXT, data TEXT, ts INTEGER NOT NULL, recipients INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS notes_by_topic ON notes (topic, seq);
      -- What a user marked read (only those: unread is the absence of a row).
      CREATE TABLE IF NOT EXISTS reads (user_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (user_id, seq)) WITHOUT ROWID;
      -- Email deliveries matched at fold: what the fan-out turns into email jobs, and what a digest gathers.
      CREATE TABLE IF NOT EXISTS mails (
        notification_id TEXT NOT NULL, user_id TEXT NOT NULL, topic TEXT NOT NULL, email TEXT NOT NULL,
        digest_s INTEGER, ts INTEGER NOT NULL, PRIMARY KEY (notification_id, user_id, topic)
      );
      CREATE INDEX IF NOT EXISTS mails_by_sub ON mails (user_id, topic, ts);
    `);
    this.index.clear();
    this.recent.clear();
    for (const r of sql(db, "SELECT * FROM subs").all() as SubRow[]) this.index.add(r.topic, subKey(r.user_id, r.topic), rowToSub(r));
  };

  apply = (db: Database.Database, ev: StoredEvent): void => {
    const kind = kindOf(ev.subject);
    if (kind === "sub") this.applySub(db, ev.seq, ev.json<SubscriptionEvent>());
    else if (kind === "note") this.applyNote(db, ev.seq, ev.json<NoteEvent>());
    else if (kind === "read") applyRead(db, ev.json<ReadEvent>());
    else if (kind === "purged") applyPurged(db, ev.json<PurgedMarker>().before);
  };

  /** The subscriptions a topic reaches now: a reserved topic only its owner's. */
  matching(topic: string): Subscription[] {
    const subs = this.index.match(topic);
    return reservedOwner(topic) === undefined ? subs : subs.filter((s) => mayReceive(topic, s.username));
  }

  private applySub(db: Database.Database, seq: number, ev: SubscriptionEvent): void {
    const key = subKey(ev.user_id, ev.topic);
    if (ev.kind === "unsubscribed") {
      sql(db, "DELETE FROM subs WHERE user_id = ? AND topic = ?").run(ev.user_id, ev.topic);
      sql(db, "UPDATE spans SET to_seq = ? WHERE user_id = ? AND topic = ? AND to_seq IS NULL").run(seq, ev.user_id, ev.topic);
      this.index.remove(ev.topic, key);
      return;
    }
    const old = sql(db, "SELECT created_at FROM subs WHERE user_id = ? AND topic = ?").get(ev.user_id, ev.topic) as { created_at: number } | undefined;
    const sub: Subscription = { user_id: ev.user_id, username: ev.username, topic: ev.topic, channels: ev.channels, email: ev.email, digest_s: ev.digest_s, created_at: old?.created_at ?? ev.ts };
    sql(db, "INSERT OR REPLACE INTO subs (user_id, topic, username, channels, email, digest_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(sub.user_id, sub.topic, sub.username, JSON.stringify(sub.channels), sub.email ?? null, sub.digest_s ?? null, sub.created_at);
    // A changed subscription (other channels) goes on in its span; a new one starts one.
    if (!old) sql(db, "INSERT OR IGNORE INTO spans (user_id, topic, username, from_seq) VALUES (?, ?, ?, ?)").run(ev.user_id, ev.topic, ev.username, seq);
    this.index.add(ev.topic, key, sub);
  }

  private applyNote(db: Database.Database, seq: number, ev: NoteEvent): void {
    const users = new Set<string>();
    const mail = sql(db, "INSERT OR IGNORE INTO mails (notification_id, user_id, topic, email, digest_s, ts) VALUES (?, ?, ?, ?, ?, ?)");
    for (const s of this.matching(ev.topic)) {
      users.add(s.user_id);
      if (s.channels.includes("email") && s.email) mail.run(ev.notification_id, s.user_id, s.topic, s.email, s.digest_s ?? null, ev.ts);
    }
    const stored = sql(db, "INSERT OR IGNORE INTO notes (seq, notification_id, topic, title, body, data, ts, recipients) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .run(seq, ev.notification_id, ev.topic, ev.title, ev.body ?? null, ev.data === undefined ? null : JSON.stringify(ev.data), ev.ts, users.size);
    if (stored.changes === 0) return; // folded before
    const list = [...users];
    this.recent.set(ev.notification_id, list);
    if (this.signals) for (const u of list) this.signals.touch(u);
  }
}

/**
 * Retention's marker: what the stream no longer holds below `before` goes
 * here too (a replica rebuilt from the purged stream never had it), and so
 * do the spans that ended before it, which no kept notification falls in.
 */
function applyPurged(db: Database.Database, before: number): void {
  sql(db, "DELETE FROM notes WHERE seq < ?").run(before);
  sql(db, "DELETE FROM reads WHERE seq < ?").run(before);
  sql(db, "DELETE FROM spans WHERE to_seq IS NOT NULL AND to_seq <= ?").run(before);
}

function applyRead(db: Database.Database, ev: ReadEvent): void {
  const mark = sql(db, "INSERT OR IGNORE INTO reads (user_id, seq) SELECT ?, seq FROM notes WHERE notification_id = ?");
  for (const id of ev.ids) mark.run(ev.user_id, id);
}

type SubRow = Omit<Subscription, "channels"> & { channels: string; email: string | null; digest_s: number | null };

export function rowToSub(r: SubRow): Subscription {
  return {
    user_id: r.user_id, username: r.username, topic: r.topic, channels: JSON.parse(r.channels) as NotifyChannel[],
    ...(r.email !== null ? { email: r.email } : {}), ...(r.digest_s !== null ? { digest_s: r.digest_s } : {}), created_at: r.created_at,
  };
}
