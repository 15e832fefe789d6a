/**
 * The chat screen's state, kept outside the components: rooms and their
 * unread counts, the messages of each opened room (paged back with
 * `chat.history` `before_seq` / `has_more`), presence, typing and receipts,
 * all kept current by the pushed events of protocol.md section 6, and
 * encryption of private rooms with this browser's key.
 */
import { decryptMessage, dmRoom, encryptMessage, isE2eEnc, type ColmenaClient } from "@colmena/client/browser";
import type { ChatKeys } from "./keys.ts";

export interface Msg {
  room: string; seq: number; msg_id: string; from: string; ts: number;
  body?: string; ciphertext?: string; enc?: unknown;
  /** The plain text of an encrypted message, once decrypted; `undefined` while pending or when it cannot be. */
  text?: string;
  failed?: boolean;
}
export interface RoomInfo { room: string; title: string; private: boolean; members: string[]; last_seq: number; unread: number }

const TYPING_MS = 4_000;
const PAGE = 50;

export class ChatStore {
  rooms: RoomInfo[] = [];
  active = "lobby";
  readonly messages = new Map<string, Msg[]>();
  readonly hasMore = new Map<string, boolean>();
  readonly online = new Map<string, Set<string>>();
  readonly typing = new Map<string, Map<string, number>>();
  /** Per room, the highest seq of mine that someone received / read. */
  readonly delivered = new Map<string, number>();
  readonly read = new Map<string, number>();
  private readonly joined = new Set<string>();
  private readonly localUnread = new Map<string, number>();
  private lastTyping = 0;
  /** This browser's key (null when it could not be made: then nothing is encrypted or decrypted here). */
  keys: Promise<ChatKeys | null> = Promise.resolve(null);

  constructor(private readonly client: ColmenaClient, readonly me: string, private readonly changed: () => void) {}

  /** Subscribes to the chat events; returns the function that stops. */
  attach(): () => void {
    const c = this.client;
    const onMsg = (m: Msg) => void this.received(m);
    const onPresence = (p: { room: string; username: string; state: string }) => {
      const set = this.online.get(p.room) ?? new Set();
      if (p.state === "online") set.add(p.username); else set.delete(p.username);
      this.online.set(p.room, set);
      this.changed();
    };
    const onTyping = (t: { room: string; from: string }) => {
      const m = this.typing.get(t.room) ?? new Map();
      m.set(t.from, Date.now() + TYPING_MS);
      this.typing.set(t.room, m);
      this.changed();
    };
    const onReceipt = (r: { room: string; seq: number; kind: string }) => {
      const map = r.kind === "read" ? this.read : this.delivered;
      map.set(r.room, Math.max(map.get(r.room) ?? 0, r.seq));
      this.changed();
    };
    c.on("chat.message", onMsg as never).on("chat.presence", onPresence as never).on("chat.typing", onTyping as never).on("chat.receipt", onReceipt as never);
    const poll = setInterval(() => void this.refreshRooms().catch(() => {}), 5_000);
    return () => {
      clearInterval(poll);
      c.off("chat.message", onMsg as never).off("chat.presence", onPresence as never).off("chat.typing", onTyping as never).off("chat.receipt", onReceipt as never);
    };
  }

  async refreshRooms(): Promise<void> {
    const r = await this.client.request<{ rooms: RoomInfo[] }>("chat.rooms");
    this.rooms = r.rooms;
    this.changed();
  }

  /** Unread count of a room: the server's, plus what arrived here since in a room not on screen. */
  unread(room: string): number {
    if (room === this.active) return 0;
    return (this.rooms.find((r) => r.room === room)?.unread ?? 0) + (this.localUnread.get(room) ?? 0);
  }

  typers(room: string): string[] {
    const now = Date.now();
    return [...(this.typing.get(room) ?? new Map<string, number>())].filter(([, until]) => until > now).map(([u]) => u);
  }

  info(room: string): RoomInfo | undefined {
    return this.rooms.find((r) => r.room === room);
  }

  /** Joins `room` (once per page load), loads its latest page, and marks it read. */
  async open(room: string): Promise<void> {
    this.active = room;
    this.localUnread.delete(room);
    this.changed();
    if (!this.joined.has(room)) {
      const j = await this.client.request<{ online: string[] }>("chat.join", { room });
      this.joined.add(room);
      this.online.set(room, new Set(j.online));
      const h = await this.client.request<{ messages: Msg[]; has_more: boolean }>("chat.history", { room, limit: PAGE });
      this.merge(room, h.messages);
      this.hasMore.set(room, h.has_more);
    }
    await this.markRead(room);
    await this.refreshRooms();
  }

  /** The page of messages before the oldest one shown. */
  async older(room: string): Promise<void> {
    const first = this.messages.get(room)?.[0];
    if (!first) return;
    const h = await this.client.request<{ messages: Msg[]; has_more: boolean }>("chat.history", { room, before_seq: first.seq, limit: PAGE });
    this.merge(room, h.messages);
    this.hasMore.set(room, h.has_more);
    this.changed();
  }

  async send(room: string, text: string, encrypt: boolean): Promise<void> {
    const payload = encrypt ? await this.encrypt(room, text, this.info(room)?.members ?? []) : { body: text };
    const r = await this.client.request<{ seq: number; msg_id: string; ts: number }>("chat.send", { room, ...payload, client_msg_id: crypto.randomUUID() });
    this.merge(room, [{ room, seq: r.seq, msg_id: r.msg_id, ts: r.ts, from: this.me, ...payload, text }]);
  }

  /** A direct message; the room is named before sending so an encrypted one can be bound to it. */
  async dm(to: string, text: string, encrypt: boolean): Promise<string> {
    const room = await dmRoom(this.me, to);
    const payload = encrypt ? await this.encrypt(room, text, [this.me, to]) : { body: text };
    await this.client.request("chat.dm", { to, ...payload, client_msg_id: crypto.randomUUID() });
    await this.refreshRooms();
    await this.open(room);
    return room;
  }

  async create(room: string, title: string, isPrivate: boolean, members: string[]): Promise<void> {
    await this.client.request("chat.create", { room, ...(title ? { title } : {}), private: isPrivate, ...(members.length ? { members } : {}) });
    await this.refreshRooms();
    await this.open(room);
  }

  /** Tells the room I am typing, at most every 3 s. */
  typingPing(room: string): void {
    if (Date.now() - this.lastTyping < 3_000) return;
    this.lastTyping = Date.now();
    this.client.request("chat.typing", { room }).catch(() => {});
  }

  // ---- internals ----

  private async received(m: Msg): Promise<void> {
    this.merge(m.room, [m]);
    if (m.from !== this.me) {
      this.client.request("chat.receipt", { room: m.room, seq: m.seq, kind: "delivered" }).catch(() => {});
      if (m.room === this.active && document.visibilityState === "visible") await this.markRead(m.room).catch(() => {});
      else this.localUnread.set(m.room, (this.localUnread.get(m.room) ?? 0) + 1);
      this.typing.get(m.room)?.delete(m.from);
    }
    this.changed();
  }

  private async markRead(room: string): Promise<void> {
    const last = [...(this.messages.get(room) ?? [])].reverse().find((m) => m.from !== this.me);
    if (last) await this.client.request("chat.receipt", { room, seq: last.seq, kind: "read" });
  }

  private merge(room: string, incoming: Msg[]): void {
    const list = this.messages.get(room) ?? [];
    const seen = new Set(list.map((m) => m.seq));
    for (const m of incoming) if (!seen.has(m.seq)) { list.push(m); seen.add(m.seq); if (m.ciphertext && m.text === undefined) void this.decrypt(m); }
    list.sort((a, b) => a.seq - b.seq);
    this.messages.set(room, list);
    this.changed();
  }

  private async encrypt(room: string, text: string, members: string[]): Promise<{ ciphertext: string; enc: unknown }> {
    const keys = await this.keys;
    if (!keys) throw new Error("this browser has no encryption key");
    const recipients = await keys.directory.recipients(members.filter((u) => u.toLowerCase() !== this.me.toLowerCase()));
    return encryptMessage(text, { room, from: this.me, sender: keys.own, recipients });
  }

  private async decrypt(m: Msg): Promise<void> {
    try {
      const keys = await this.keys;
      if (!keys || !isE2eEnc(m.enc)) throw new Error("no key");
      m.text = await decryptMessage({ room: m.room, from: m.from, ciphertext: m.ciphertext!, enc: m.enc }, keys.own, keys.directory);
    } catch {
      m.failed = true;
    }
    this.changed();
  }
}
