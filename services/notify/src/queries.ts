/**
 * What the ops, the fan-out and the email jobs read from the notify read
 * model (src/model.ts). A user's inbox is computed from their subscription
 * spans when it is read: for each span, the notifications stored inside it
 * whose topic its pattern matches (through the `(topic, seq)` index for a
 * pattern that starts with literal tokens, in stream order otherwise), merged
 * in stream order. Reading pays for what writing no longer does.
 */
import type Database from "better-sqlite3";
import { sql } from "@colmena/runtime";
import type { NotificationRecord } from "@colmena/protocol";
import { mayReceive, rowToSub, toRecord, type NoteRow, type RecentRecipients, type Subscription } from "./model.ts";
import { patternMatches } from "./topic-index.ts";

export interface MailRow { notification_id: string; user_id: string; topic: string; email: string; digest_s: number | null; ts: number }

interface Span { topic: string; username: string; from_seq: number; to_seq: number | null }

/** The topic range a pattern's literal leading tokens bound (`a.b.*` -> `a.b.` up to `a.b/`), or undefined for a leading wildcard. */
function literalPrefix(pattern: string): { exact?: string; low?: string; high?: string } {
  const tokens = pattern.split(".");
  const wild = tokens.findIndex((t) => t === "*" || t === ">");
  if (wild < 0) return { exact: pattern };
  if (wild === 0) return {};
  const low = `${tokens.slice(0, wild).join(".")}.`;
  return { low, high: `${low.slice(0, -1)}/` }; // "/" follows "." in byte order
}

export class NotifyQueries {
  constructor(private readonly db: Database.Database, private readonly recent: RecentRecipients) {}

  subscriptions(userId: string): Subscription[] {
    return (sql(this.db, "SELECT * FROM subs WHERE user_id = ? ORDER BY created_at, topic").all(userId) as Parameters<typeof rowToSub>[0][]).map(rowToSub);
  }

  subscription(userId: string, topic: string): Subscription | undefined {
    const r = sql(this.db, "SELECT * FROM subs WHERE user_id = ? AND topic = ?").get(userId, topic) as Parameters<typeof rowToSub>[0] | undefined;
    return r && rowToSub(r);
  }

  /** One page of a user's inbox, oldest first, after `since` (a notification id or a time in ms). */
  inbox(userId: string, opts: { since?: string | number; limit: number; unreadOnly: boolean }): { rows: NotificationRecord[]; more: boolean } {
    const after = typeof opts.since === "string" ? (this.seqOf(opts.since) ?? 0) : 0;
    const afterTs = typeof opts.since === "number" ? opts.since : -1;
    const rows = this.page(userId, { afterSeq: after, afterTs, limit: opts.limit + 1, unreadOnly: opts.unreadOnly });
    return { rows: rows.slice(0, opts.limit).map((r) => r.note), more: rows.length > opts.limit };
  }

  /** The stream sequence of a stored notification (its place in every inbox), or undefined. */
  seqOf(notificationId: string): number | undefined {
    return (sql(this.db, "SELECT seq FROM notes WHERE notification_id = ?").get(notificationId) as { seq: number } | undefined)?.seq;
  }

  /** Inbox notifications after a stream sequence and a time, oldest first, with their sequence (a cursor). */
  page(userId: string, opts: { afterSeq: number; afterTs: number; limit: number; unreadOnly?: boolean }): { seq: number; note: NotificationRecord }[] {
    const spans = sql(this.db, "SELECT topic, username, from_seq, to_seq FROM spans WHERE user_id = ? AND (to_seq IS NULL OR to_seq > ?)").all(userId, opts.afterSeq) as Span[];
    const found = new Set<number>();
    for (const span of spans) for (const seq of this.inSpan(userId, span, opts)) found.add(seq);
    const seqs = [...found].sort((a, b) => a - b).slice(0, opts.limit);
    if (seqs.length === 0) return [];
    const rows = sql(this.db, `
      SELECT n.*, EXISTS (SELECT 1 FROM reads r WHERE r.user_id = ? AND r.seq = n.seq) AS read
      FROM notes n WHERE n.seq IN (${seqs.map(() => "?").join(",")}) ORDER BY n.seq`).all(userId, ...seqs) as NoteRow[];
    return rows.map((r) => ({ seq: r.seq, note: toRecord(r) }));
  }

  /** The first `limit` sequences of one span's notifications after the cursor. */
  private inSpan(userId: string, span: Span, opts: { afterSeq: number; afterTs: number; limit: number; unreadOnly?: boolean }): number[] {
    const from = Math.max(span.from_seq, opts.afterSeq);
    const to = span.to_seq ?? Number.MAX_SAFE_INTEGER;
    const unread = opts.unreadOnly ? "AND NOT EXISTS (SELECT 1 FROM reads r WHERE r.user_id = @user AND r.seq = n.seq)" : "";
    const args = { user: userId, from, to, ts: opts.afterTs, limit: opts.limit };
    const range = literalPrefix(span.topic);
    if (range.exact !== undefined) {
      if (!mayReceive(range.exact, span.username)) return [];
      const text = `SELECT seq FROM notes n WHERE topic = @topic AND seq > @from AND seq < @to AND ts > @ts ${unread} ORDER BY seq LIMIT @limit`;
      return (sql(this.db, text).pluck().all({ ...args, topic: range.exact }) as number[]);
    }
    const where = range.low !== undefined ? "topic >= @low AND topic < @high AND" : "";
    const text = `SELECT seq, topic FROM notes n WHERE ${where} seq > @from AND seq < @to AND ts > @ts ${unread} ORDER BY seq`;
    const out: number[] = [];
    const params = range.low !== undefined ? { ...args, low: range.low, high: range.high } : args;
    for (const r of sql(this.db, text).iterate(params) as IterableIterator<{ seq: number; topic: string }>) {
      if (!patternMatches(span.topic, r.topic) || !mayReceive(r.topic, span.username)) continue;
      out.push(r.seq);
      if (out.length >= opts.limit) break;
    }
    return out;
  }

  note(id: string): NotificationRecord | undefined {
    const r = sql(this.db, "SELECT *, 0 AS read FROM notes WHERE notification_id = ?").get(id) as NoteRow | undefined;
    return r && toRecord(r);
  }

  /** How many inboxes a stored notification reached, or undefined when it is not folded here. */
  recipientCount(id: string): number | undefined {
    return (sql(this.db, "SELECT recipients FROM notes WHERE notification_id = ?").pluck().get(id) as number | undefined);
  }

  /** The users whose inbox a notification reached: from the fold when recent, else from the spans around it. */
  recipients(id: string): string[] {
    const known = this.recent.get(id);
    if (known) return known;
    const note = sql(this.db, "SELECT seq, topic FROM notes WHERE notification_id = ?").get(id) as { seq: number; topic: string } | undefined;
    if (!note) return [];
    const spans = sql(this.db, "SELECT user_id, topic, username FROM spans WHERE from_seq < ? AND (to_seq IS NULL OR to_seq > ?)")
      .all(note.seq, note.seq) as { user_id: string; topic: string; username: string }[];
    const users = new Set<string>();
    for (const s of spans) if (patternMatches(s.topic, note.topic) && mayReceive(note.topic, s.username)) users.add(s.user_id);
    return [...users];
  }

  /** Retention's bound: the sequence of the oldest notification stored at or after `ts`, or undefined when none is. */
  firstNoteSince(ts: number): number | undefined {
    return sql(this.db, "SELECT seq FROM notes WHERE ts >= ? ORDER BY seq LIMIT 1").pluck().get(ts) as number | undefined;
  }

  /** The sequence of the oldest notification held, or undefined when none is. */
  oldestNote(): number | undefined {
    return sql(this.db, "SELECT min(seq) FROM notes").pluck().get() as number | null ?? undefined;
  }

  mails(notificationId: string): MailRow[] {
    return sql(this.db, "SELECT * FROM mails WHERE notification_id = ?").all(notificationId) as MailRow[];
  }

  /** The notifications one subscription matched in [fromTs, toTs): a digest window. */
  window(userId: string, topic: string, fromTs: number, toTs: number): NotificationRecord[] {
    return (sql(this.db, `
      SELECT n.*, 0 AS read FROM mails m JOIN notes n ON n.notification_id = m.notification_id
      WHERE m.user_id = ? AND m.topic = ? AND m.ts >= ? AND m.ts < ? ORDER BY n.seq`).all(userId, topic, fromTs, toTs) as NoteRow[]).map(toRecord);
  }
}
