/**
 * The chat read model: rooms, members, messages (history), read positions
 * and public keys, folded from the CHAT stream into each replica's SQLite
 * file. Usernames compare case-insensitively (`ukey`, lowercased).
 */
import type Database from "better-sqlite3";
import { sql } from "@colmena/runtime";
import { LOBBY, type ChatMessage } from "@colmena/protocol";
import type { StoredEvent } from "@colmena/runtime";
import type { ChatEvent, MessageStored } from "./events.ts";

export function migrate(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS rooms (room TEXT PRIMARY KEY, title TEXT NOT NULL, private INTEGER NOT NULL, created_at INTEGER NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS members (room TEXT NOT NULL, ukey TEXT NOT NULL, username TEXT NOT NULL, PRIMARY KEY (room, ukey));
    CREATE TABLE IF NOT EXISTS messages (room TEXT NOT NULL, seq INTEGER NOT NULL, msg_id TEXT NOT NULL, from_user TEXT NOT NULL, from_ukey TEXT NOT NULL, user_id TEXT NOT NULL,
      body TEXT, ciphertext TEXT, enc TEXT, mentions TEXT, ts INTEGER NOT NULL, client_msg_id TEXT, PRIMARY KEY (room, seq));
    CREATE INDEX IF NOT EXISTS messages_client ON messages (room, user_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
    CREATE TABLE IF NOT EXISTS reads (room TEXT NOT NULL, ukey TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (room, ukey));
    CREATE TABLE IF NOT EXISTS pubkeys (ukey TEXT NOT NULL, key_id TEXT NOT NULL, public_key TEXT NOT NULL, PRIMARY KEY (ukey, key_id));
  `);
  // The public lobby always exists, before and without any event.
  sql(db, "INSERT OR IGNORE INTO rooms (room, title, private, created_at) VALUES (?, ?, 0, 0)").run(LOBBY, LOBBY);
}

export function applyEvent(db: Database.Database, stored: StoredEvent): MessageStored | undefined {
  const ev = stored.json<ChatEvent>();
  switch (ev.kind) {
    case "created": {
      sql(db, "INSERT OR IGNORE INTO rooms (room, title, private, created_at) VALUES (?, ?, ?, ?)").run(ev.room, ev.title, ev.private ? 1 : 0, ev.ts);
      const add = sql(db, "INSERT OR IGNORE INTO members (room, ukey, username) VALUES (?, ?, ?)");
      for (const m of ev.members) add.run(ev.room, m.toLowerCase(), m);
      return undefined;
    }
    case "joined":
      sql(db, "INSERT OR IGNORE INTO members (room, ukey, username) VALUES (?, ?, ?)").run(ev.room, ev.username.toLowerCase(), ev.username);
      return undefined;
    case "message":
      sql(db, `INSERT OR IGNORE INTO messages (room, seq, msg_id, from_user, from_ukey, user_id, body, ciphertext, enc, mentions, ts, client_msg_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(ev.room, stored.seq, ev.msg_id, ev.from, ev.from.toLowerCase(), ev.user_id, ev.body ?? null, ev.ciphertext ?? null,
        ev.enc ? JSON.stringify(ev.enc) : null, ev.mentions?.length ? JSON.stringify(ev.mentions) : null, ev.ts, ev.client_msg_id ?? null);
      sql(db, "UPDATE rooms SET last_seq = max(last_seq, ?) WHERE room = ?").run(stored.seq, ev.room);
      return ev;
    case "read":
      sql(db, "INSERT INTO reads (room, ukey, seq) VALUES (?, ?, ?) ON CONFLICT (room, ukey) DO UPDATE SET seq = max(seq, excluded.seq)").run(ev.room, ev.username.toLowerCase(), ev.seq);
      return undefined;
    case "key":
      sql(db, "INSERT OR REPLACE INTO pubkeys (ukey, key_id, public_key) VALUES (?, ?, ?)").run(ev.username.toLowerCase(), ev.key_id, ev.public_key);
      return undefined;
  }
}

export interface RoomRow { room: string; title: string; private: number; created_at: number; last_seq: number }
interface MessageRow { room: string; seq: number; msg_id: string; from_user: string; user_id: string; body: string | null; ciphertext: string | null; enc: string | null; mentions: string | null; ts: number }

/** A stored message as the protocol shows it (the author's id and connection stay inside). */
export function toMessage(seq: number, ev: Pick<MessageStored, "room" | "msg_id" | "from" | "body" | "ciphertext" | "enc" | "mentions" | "ts">): ChatMessage {
  return {
    room: ev.room, seq, msg_id: ev.msg_id, from: ev.from,
    ...(ev.body !== undefined ? { body: ev.body } : {}),
    ...(ev.ciphertext !== undefined ? { ciphertext: ev.ciphertext } : {}),
    ...(ev.enc !== undefined ? { enc: ev.enc } : {}),
    ts: ev.ts,
    ...(ev.mentions?.length ? { mentions: ev.mentions } : {}),
  };
}

const rowMessage = (r: MessageRow): ChatMessage => toMessage(r.seq, {
  room: r.room, msg_id: r.msg_id, from: r.from_user, body: r.body ?? undefined, ciphertext: r.ciphertext ?? undefined,
  enc: r.enc ? JSON.parse(r.enc) : undefined, mentions: r.mentions ? JSON.parse(r.mentions) : undefined, ts: r.ts,
});

/** The reads the ops make. */
export class ChatQueries {
  constructor(private readonly db: Database.Database) {}

  room(room: string): RoomRow | undefined {
    return sql(this.db, "SELECT * FROM rooms WHERE room = ?").get(room) as RoomRow | undefined;
  }

  isMember(room: string, user: string): boolean {
    return sql(this.db, "SELECT 1 FROM members WHERE room = ? AND ukey = ?").get(room, user.toLowerCase()) !== undefined;
  }

  /** The member of `room` called `user` in any case, as the member list spells it. */
  memberNamed(room: string, user: string): string | undefined {
    return (sql(this.db, "SELECT username FROM members WHERE room = ? AND ukey = ?").get(room, user.toLowerCase()) as { username: string } | undefined)?.username;
  }

  members(room: string): string[] {
    return (sql(this.db, "SELECT username FROM members WHERE room = ? ORDER BY ukey").all(room) as { username: string }[]).map((r) => r.username);
  }

  /** The author's user id of message `seq` in `room`. */
  author(room: string, seq: number): { user_id: string; from: string } | undefined {
    const r = sql(this.db, "SELECT user_id, from_user FROM messages WHERE room = ? AND seq = ?").get(room, seq) as { user_id: string; from_user: string } | undefined;
    return r && { user_id: r.user_id, from: r.from_user };
  }

  /** An earlier send of the same user with the same client_msg_id in the room. */
  sentBefore(room: string, userId: string, clientMsgId: string): { seq: number; msg_id: string; ts: number } | undefined {
    return sql(this.db, "SELECT seq, msg_id, ts FROM messages WHERE room = ? AND user_id = ? AND client_msg_id = ?").get(room, userId, clientMsgId) as
      { seq: number; msg_id: string; ts: number } | undefined;
  }

  message(room: string, seq: number): ChatMessage | undefined {
    const r = sql(this.db, "SELECT * FROM messages WHERE room = ? AND seq = ?").get(room, seq) as MessageRow | undefined;
    return r && rowMessage(r);
  }

  /**
   * Up to `limit` messages in ascending seq, strictly between `after` and
   * `before`: the newest ones unless `newest` is false (the default when
   * `after` is given: paging forward). `has_more`: others lie in the same bounds.
   */
  page(room: string, limit: number, after?: number, before?: number, newest = after === undefined): { messages: ChatMessage[]; has_more: boolean } {
    const lo = after ?? 0;
    const hi = before ?? Number.MAX_SAFE_INTEGER;
    const order = newest ? "DESC" : "ASC";
    const rows = sql(this.db, `SELECT * FROM messages WHERE room = ? AND seq > ? AND seq < ? ORDER BY seq ${order} LIMIT ?`).all(room, lo, hi, limit + 1) as MessageRow[];
    const has_more = rows.length > limit;
    const kept = rows.slice(0, limit);
    if (order === "DESC") kept.reverse();
    return { messages: kept.map(rowMessage), has_more };
  }

  /** Public rooms and the private ones `user` belongs to, with the user's unread count. */
  rooms(user: string): { room: string; title: string; private: boolean; members: string[]; last_seq: number; unread: number }[] {
    const ukey = user.toLowerCase();
    const rows = sql(this.db, `SELECT r.*, COALESCE(rd.seq, 0) AS read_seq FROM rooms r LEFT JOIN reads rd ON rd.room = r.room AND rd.ukey = ?
      WHERE r.private = 0 OR EXISTS (SELECT 1 FROM members m WHERE m.room = r.room AND m.ukey = ?) ORDER BY r.room`).all(ukey, ukey) as (RoomRow & { read_seq: number })[];
    const unread = sql(this.db, "SELECT count(*) AS n FROM messages WHERE room = ? AND seq > ? AND from_ukey <> ?");
    return rows.map((r) => ({
      room: r.room, title: r.title, private: r.private === 1, members: this.members(r.room), last_seq: r.last_seq,
      unread: (unread.get(r.room, r.read_seq, ukey) as { n: number }).n,
    }));
  }

  /** The read position of `user` in `room` (0: none). */
  readSeq(room: string, user: string): number {
    return (sql(this.db, "SELECT seq FROM reads WHERE room = ? AND ukey = ?").get(room, user.toLowerCase()) as { seq: number } | undefined)?.seq ?? 0;
  }

  keys(user: string): { key_id: string; public_key: string }[] {
    return sql(this.db, "SELECT key_id, public_key FROM pubkeys WHERE ukey = ? ORDER BY key_id").all(user.toLowerCase()) as { key_id: string; public_key: string }[];
  }
}
