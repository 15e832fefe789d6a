/**
 * What `colmena chat` does, apart from the terminal: joins rooms and DMs,
 * prints history and live messages (decrypting end-to-end-encrypted ones),
 * typing, presence and receipts, sends (encrypting when `/e2e` is on), and
 * acknowledges what it shows with `delivered`/`read` receipts. Output goes
 * through `print`, one line at a time, so the terminal can keep its prompt.
 */
import { randomUUID } from "node:crypto";
import {
  ColmenaError, decryptMessage, encryptMessage, isE2eEnc, keyDirectory,
  type ColmenaClient, type E2eKeyPair,
} from "@colmena/client";
import { dmRoom, type ChatMessage } from "@colmena/protocol";
import { loadChatKey, loadOrCreateChatKey } from "./key-file.ts";

const TYPING_EVERY_MS = 3_000;
const TYPING_SHOWN_EVERY_MS = 4_000;
const DM_RETRY_MS = 2_000;

export class ChatSession {
  /** The room lines are sent to; `dmTo` when it is a DM. */
  room = "";
  dmTo: string | undefined;
  private readonly joined = new Set<string>();
  private readonly encrypted = new Set<string>();
  private readonly shown = new Set<string>();
  private readonly typingShown = new Map<string, number>();
  private lastTyping = 0;
  private key: E2eKeyPair | null = null;
  private readonly keys: ReturnType<typeof keyDirectory>;
  private dmRetry: NodeJS.Timeout | undefined;

  constructor(private readonly client: ColmenaClient, private readonly me: string, private readonly print: (line: string) => void) {
    this.keys = keyDirectory((op, data) => client.request(op, data));
    client.on("chat.message", (m) => void this.live(m));
    client.on("chat.typing", (t) => this.typingOf(t.room, t.from));
    client.on("chat.presence", (p) => p.username !== me && this.print(`* ${p.username} is ${p.state}${this.where(p.room)}`));
    client.on("chat.receipt", (r) => this.print(`  (#${r.seq} ${r.kind === "read" ? "read by" : "delivered to"} ${r.from}${this.where(r.room)})`));
  }

  /** Loads (and publishes again) a saved key, so that others can encrypt to this user and its messages decrypt. */
  async loadKey(): Promise<void> {
    this.key = await loadChatKey(this.me);
    if (this.key) await this.publishKey(this.key);
  }

  /** Makes `room` the current room: joins it (creating a public room that does not exist yet) and prints its history. */
  async enter(room: string): Promise<void> {
    this.stopDmRetry();
    this.dmTo = undefined;
    this.room = room;
    try {
      await this.join(room);
    } catch (err) {
      if (!ColmenaError.is(err, "not_found")) throw err;
      await this.client.request("chat.create", { room });
      await this.join(room);
    }
  }

  /** Makes the DM with `user` current; before its first message the room does not exist, so joining is retried. */
  async dm(user: string): Promise<void> {
    this.stopDmRetry();
    this.dmTo = user;
    this.room = await dmRoom(this.me, user);
    if (!(await this.tryJoin(this.room))) {
      this.print(`* direct messages with ${user}: nothing yet`);
      this.dmRetry = setInterval(() => void this.tryJoin(this.room).then((ok) => ok && this.stopDmRetry()), DM_RETRY_MS);
    }
  }

  /** Switches end-to-end encryption of the current room on or off; on creates (0600) and publishes this user's key. */
  async toggleE2e(): Promise<void> {
    if (this.encrypted.delete(this.room)) {
      this.print(`* end-to-end encryption off${this.where(this.room, true)}`);
      return;
    }
    const { key, created } = await loadOrCreateChatKey(this.me);
    this.key = key;
    await this.publishKey(key);
    this.encrypted.add(this.room);
    this.print(`* end-to-end encryption on${this.where(this.room, true)} (${created ? "new " : ""}key ${key.keyId})`);
  }

  /** Sends a line to the current room (or DM), encrypted when `/e2e` is on for it. */
  async send(text: string): Promise<void> {
    this.lastTyping = 0; // the next keypress starts a new message: tell the room again
    const content = this.encrypted.has(this.room) ? await this.encrypt(text) : { body: text };
    if (!content) return;
    const client_msg_id = randomUUID();
    const r = this.dmTo
      ? await this.client.request<{ room: string; seq: number }>("chat.dm", { to: this.dmTo, ...content, client_msg_id })
      : await this.client.request<{ room: string; seq: number }>("chat.send", { room: this.room, ...content, client_msg_id });
    if (!this.joined.has(r.room)) await this.tryJoin(r.room).then((ok) => ok && this.stopDmRetry());
    this.show(r.room, r.seq, `${this.me}: ${text}${"ciphertext" in content ? "  [e2e]" : ""}`);
  }

  /** Tells the current room this user is typing, at most every few seconds. */
  typing(): void {
    const now = Date.now();
    if (!this.room || now - this.lastTyping < TYPING_EVERY_MS || !this.joined.has(this.room)) return;
    this.lastTyping = now;
    this.client.request("chat.typing", { room: this.room }).catch(() => {});
  }

  async leaveAll(): Promise<void> {
    this.stopDmRetry();
    for (const room of this.joined) await this.client.request("chat.leave", { room }).catch(() => {});
  }

  private async join(room: string): Promise<void> {
    const r = await this.client.request<{ online: string[] }>("chat.join", { room });
    this.joined.add(room);
    const h = await this.client.request<{ messages: ChatMessage[]; has_more: boolean }>("chat.history", { room, limit: 20 });
    const label = this.dmTo ? `direct messages with ${this.dmTo}` : room;
    this.print(`* joined ${label}; online: ${r.online.join(", ") || "nobody"}${h.has_more ? " (older history with chat.history)" : ""}`);
    for (const m of h.messages) this.show(m.room, m.seq, await this.render(m));
    const lastOther = h.messages.filter((m) => m.from !== this.me).at(-1);
    if (lastOther) this.client.request("chat.receipt", { room, seq: lastOther.seq, kind: "read" }).catch(() => {});
  }

  private async tryJoin(room: string): Promise<boolean> {
    try {
      if (!this.joined.has(room)) await this.join(room);
      return true;
    } catch (err) {
      if (ColmenaError.is(err, "not_found")) return false;
      throw err;
    }
  }

  private stopDmRetry(): void {
    clearInterval(this.dmRetry);
    this.dmRetry = undefined;
  }

  private async live(m: ChatMessage): Promise<void> {
    this.typingShown.delete(`${m.room}\n${m.from}`);
    this.show(m.room, m.seq, await this.render(m));
    if (m.from === this.me) return;
    const receipt = (kind: string) => this.client.request("chat.receipt", { room: m.room, seq: m.seq, kind }).catch(() => {});
    await receipt("delivered");
    // Shown on the current room's screen: read as well.
    if (m.room === this.room) await receipt("read");
  }

  private typingOf(room: string, from: string): void {
    const k = `${room}\n${from}`;
    const now = Date.now();
    if (from === this.me || now - (this.typingShown.get(k) ?? 0) < TYPING_SHOWN_EVERY_MS) return;
    this.typingShown.set(k, now);
    this.print(`* ${from} is typing…${this.where(room)}`);
  }

  /** Prints a message once (history and live may both carry it). */
  private show(room: string, seq: number, text: string): void {
    const k = `${room}\n${seq}`;
    if (this.shown.has(k)) return;
    this.shown.add(k);
    this.print(`[#${seq}]${this.where(room)} ${text}`);
  }

  private async render(m: ChatMessage): Promise<string> {
    if (m.body !== undefined) return `${m.from}: ${m.body}`;
    if (!m.ciphertext || !isE2eEnc(m.enc)) return `${m.from}: [encrypted, unknown format]`;
    if (!this.key) return `${m.from}: [encrypted; /e2e to create a key]`;
    try {
      return `${m.from}: ${await decryptMessage({ room: m.room, from: m.from, ciphertext: m.ciphertext, enc: m.enc }, this.key, this.keys)}  [e2e]`;
    } catch (err) {
      return `${m.from}: [encrypted, cannot decrypt: ${(err as Error).message}]`;
    }
  }

  /** The content of an encrypted send: for every key of every member, or undefined (and why) when nobody else has one. */
  private async encrypt(text: string): Promise<{ ciphertext: string; enc: Record<string, unknown> } | undefined> {
    const members = this.dmTo ? [this.dmTo] : await this.membersOf(this.room);
    const recipients = await this.keys.recipients(members.filter((u) => u !== this.me));
    const missing = members.filter((u) => u !== this.me && !recipients.some((r) => r.username === u));
    if (missing.length) this.print(`* no key published by ${missing.join(", ")}: they cannot read encrypted messages`);
    if (recipients.length === 0) {
      this.print("* not sent: nobody else here has published a key (/e2e to send in plain text)");
      return undefined;
    }
    const p = await encryptMessage(text, { room: this.room, from: this.me, sender: this.key!, recipients });
    return { ciphertext: p.ciphertext, enc: { ...p.enc } };
  }

  private async membersOf(room: string): Promise<string[]> {
    const r = await this.client.request<{ rooms: { room: string; members: string[] }[] }>("chat.rooms", {});
    return r.rooms.find((x) => x.room === room)?.members ?? [];
  }

  private async publishKey(key: E2eKeyPair): Promise<void> {
    await this.client.request("chat.keys.publish", { key_id: key.keyId, public_key: key.publicKey });
  }

  /** ` in ROOM` when `room` is not the current one (`always`: in any case). */
  private where(room: string, always = false): string {
    if (room === this.room && !always) return "";
    return room.startsWith("dm-") && room === this.room && this.dmTo ? ` with ${this.dmTo}` : ` in ${room}`;
  }
}
