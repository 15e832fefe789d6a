/**
 * Storing a message: one append to the room's message subject, with a
 * `Nats-Msg-Id` derived from the sender and `client_msg_id`, so a resend by
 * any replica stores nothing new and answers the original. The push to the
 * room is not made here but by whichever replica's fan-out consumer takes
 * the stored message (fanout.ts), so it survives this replica's death.
 */
import { randomBytes } from "node:crypto";
import type { ChatMessage } from "@colmena/protocol";
import type { EntityLog, ReadModel } from "@colmena/runtime";
import { roomMessages, sendMsgId, type ChatEvent, type MessageStored } from "./events.ts";
import type { ChatQueries } from "./model.ts";

export interface Outgoing {
  room: string;
  from: string;
  /** The author's user id ("" for line-chat guests, who get no receipts). */
  userId: string;
  conn?: string;
  body?: string;
  ciphertext?: string;
  enc?: Record<string, unknown>;
  client_msg_id?: string;
}

export interface Sent { room: string; seq: number; msg_id: string; ts: number }

const MENTION = /@([A-Za-z0-9_.-]{3,32})/g;

/**
 * Members of the room named `@username` in a plain body, as the member list
 * spells them. Each name is looked up on its own (`memberNamed`, any case),
 * so a message to a room of thousands costs nothing per member: loading the
 * whole list took about 0.85 ms a message at 1,000 members. Ciphertext is
 * never read.
 */
export function mentionsIn(body: string | undefined, memberNamed: (name: string) => string | undefined): string[] {
  if (!body?.includes("@")) return [];
  const found = new Set<string>();
  for (const [, name] of body.matchAll(MENTION)) {
    // "@bob." at the end of a sentence names bob; the name as written only when no member has the shorter one.
    const m = memberNamed(name.replace(/\.+$/, "")) ?? memberNamed(name);
    if (m) found.add(m);
  }
  return [...found];
}

export class MessageWriter {
  constructor(private readonly log: EntityLog<ChatEvent>, private readonly queries: ChatQueries, private readonly model: ReadModel) {}

  async send(out: Outgoing): Promise<Sent> {
    const { room } = out;
    if (out.client_msg_id && out.userId) {
      const before = this.queries.sentBefore(room, out.userId, out.client_msg_id);
      if (before) return { room, ...before };
    }
    const mentions = mentionsIn(out.body, (name) => this.queries.memberNamed(room, name));
    const ev: MessageStored = {
      kind: "message", room, msg_id: `m_${randomBytes(12).toString("hex")}`, from: out.from, user_id: out.userId,
      ...(out.conn ? { conn: out.conn } : {}),
      ...(out.body !== undefined ? { body: out.body } : {}),
      ...(out.ciphertext !== undefined ? { ciphertext: out.ciphertext } : {}),
      ...(out.enc !== undefined ? { enc: out.enc } : {}),
      ...(out.client_msg_id ? { client_msg_id: out.client_msg_id } : {}),
      ...(mentions.length ? { mentions } : {}),
      ts: Date.now(),
    };
    const msgId = out.client_msg_id && out.userId ? sendMsgId(room, out.userId, out.client_msg_id) : undefined;
    const r = await this.log.append(roomMessages(room), ev, undefined, msgId);
    if (!r.ok) throw new Error("an unconditional append cannot conflict");
    if (!r.duplicate) return { room, seq: r.seq, msg_id: ev.msg_id, ts: ev.ts };
    // Stored by an earlier try (perhaps another replica's): answer what that one stored.
    await this.model.waitFor(r.seq);
    const orig: ChatMessage | undefined = this.queries.message(room, r.seq);
    return orig ? { room, seq: r.seq, msg_id: orig.msg_id, ts: orig.ts } : { room, seq: r.seq, msg_id: ev.msg_id, ts: ev.ts };
  }
}
