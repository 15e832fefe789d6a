/**
 * What the chat service keeps in its CHAT stream, a subject per entity:
 *
 *   chat.ev.room.<room>.meta      the room's creation (written once: expect 0)
 *   chat.ev.room.<room>.member    a user's first join of a public room (membership: history, unread)
 *   chat.ev.room.<room>.msg.p<n>  its messages; the stream sequence is the message's `seq`;
 *                                 `n` = the room's push partition (below)
 *   chat.ev.read.<room>.<user>    a user's read position in a room
 *   chat.ev.key.<user>            a user's public keys
 *
 * Room names are subject tokens as they are (protocol.md section 6); user
 * names are encoded with encodeToken.
 */
import { createHash } from "node:crypto";
import { encodeToken, eventSubject, serviceEvents, streamName } from "@colmena/protocol";

export const CHAT_SERVICE = "chat";
export const CHAT_STREAM = streamName(CHAT_SERVICE);
export const allChatEvents = serviceEvents(CHAT_SERVICE);
/**
 * Pushes go through PUSH_PARTITIONS durables the replicas share, a room
 * always in the same one (`pushPartition`, a hash of its name, written into
 * its message subject so a durable can filter on it). Each durable has one
 * message in hand at a time, which keeps its rooms' `seq` order across
 * replicas; rooms of different partitions are pushed in parallel. Fixed in
 * code, not a setting: a different count would move rooms between durables
 * while messages may wait in the old ones, and every replica must agree.
 */
export const PUSH_PARTITIONS = 8;
/** The durable that pushes partition `p`'s stored messages to their rooms' channels. */
export const pushDurable = (p: number) => `chat-push-${p}`;
/** A room's push partition: FNV-1a of its name, modulo PUSH_PARTITIONS. */
export function pushPartition(room: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < room.length; i++) h = Math.imul(h ^ room.charCodeAt(i), 0x01000193);
  return (h >>> 0) % PUSH_PARTITIONS;
}

export const roomMeta = (room: string) => eventSubject(CHAT_SERVICE, "room", room, "meta");
export const roomMember = (room: string) => eventSubject(CHAT_SERVICE, "room", room, "member");
export const roomMessages = (room: string) => eventSubject(CHAT_SERVICE, "room", room, "msg", `p${pushPartition(room)}`);
/** Every room's messages of push partition `p`: the roomMessages grammar with a wildcard for the room (eventSubject refuses wildcards, rightly, for client tokens). */
export const partitionMessages = (p: number) => eventSubject(CHAT_SERVICE, "room", "_", "msg", `p${p}`).replace(/\.room\._\./, ".room.*.");
export const readSubject = (room: string, user: string) => eventSubject(CHAT_SERVICE, "read", room, encodeToken(user.toLowerCase()));
export const keySubject = (user: string) => eventSubject(CHAT_SERVICE, "key", encodeToken(user.toLowerCase()));

/** The room of a `chat.ev.room.<room>.<kind>` subject. */
export const roomOfSubject = (subject: string) => subject.split(".")[3];

export interface RoomCreated { kind: "created"; room: string; title: string; private: boolean; members: string[]; by: string; ts: number }
export interface MemberJoined { kind: "joined"; room: string; username: string; ts: number }
/** A stored message. `user_id` (the author's, for receipts) and `conn` (the sender's connection, never echoed to) stay inside the service. */
export interface MessageStored {
  kind: "message";
  room: string;
  msg_id: string;
  from: string;
  user_id: string;
  conn?: string;
  body?: string;
  ciphertext?: string;
  enc?: Record<string, unknown>;
  client_msg_id?: string;
  mentions?: string[];
  ts: number;
}
export interface ReadMoved { kind: "read"; room: string; username: string; seq: number }
export interface KeyPublished { kind: "key"; username: string; key_id: string; public_key: string }
export type ChatEvent = RoomCreated | MemberJoined | MessageStored | ReadMoved | KeyPublished;

/** The `Nats-Msg-Id` of a send with a client_msg_id: per user and room, so a resend by any replica is de-duplicated. */
export function sendMsgId(room: string, userId: string, clientMsgId: string): string {
  return `chat-send:${createHash("sha256").update(`${room}\n${userId}\n${clientMsgId}`).digest("hex")}`;
}
