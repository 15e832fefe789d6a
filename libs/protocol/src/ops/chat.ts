/**
 * Ops and events of the `chat` service (protocol.md section 6). Message
 * bodies are bounded here; `ciphertext` is checked only for being base64 of
 * bounded size, and `enc` is any object the server stores untouched.
 */
import { z } from "zod";
import { defineEvent } from "../events/define.ts";
import { defineOp } from "./define.ts";
import { utf8Length } from "../binary.ts";
import { username } from "./session.ts";

/** A room name: 1-64 characters of [a-z0-9_-], starting with a letter or digit (a valid subject token as it is). */
export const roomName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "a room name (1-64 of [a-z0-9_-], starting with a letter or digit)");
/** The public room every deployment has. */
export const LOBBY = "lobby";
export const MAX_BODY_BYTES = 16 * 1024;
export const MAX_CIPHERTEXT_CHARS = 64 * 1024;

const body = z.string().min(1).refine((s) => utf8Length(s) <= MAX_BODY_BYTES, `at most ${MAX_BODY_BYTES} bytes`);
const ciphertext = z.string().min(1).max(MAX_CIPHERTEXT_CHARS).regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64");
const enc = z.record(z.string(), z.unknown());
const clientMsgId = z.string().min(1).max(128);
const seq = z.number().int().min(0);

/** A message as history, `missed` and `chat.message` carry it. `mentions`: members named with `@username` (an addition). */
export const chatMessage = z.object({
  room: z.string(),
  seq: z.number().int(),
  msg_id: z.string(),
  from: z.string(),
  body: z.string().optional(),
  ciphertext: z.string().optional(),
  enc: enc.optional(),
  ts: z.number().int(),
  mentions: z.array(z.string()).optional(),
});
export type ChatMessage = z.infer<typeof chatMessage>;

const content = { body: body.optional(), ciphertext: ciphertext.optional(), enc: enc.optional(), client_msg_id: clientMsgId.optional() };
const sent = z.object({ room: z.string(), seq: z.number().int(), msg_id: z.string(), ts: z.number().int() });
const chat = <Req extends z.ZodType, Rep extends z.ZodType>(op: string, summary: string, request: Req, reply: Rep, idempotent?: true) =>
  defineOp({ op, service: "chat", access: "user", summary, request, reply, ...(idempotent ? { idempotent } : {}) });
/** A read: sent again to another replica when its replica dies holding it (OpDef.idempotent). */
const chatRead = <Req extends z.ZodType, Rep extends z.ZodType>(op: string, summary: string, request: Req, reply: Rep) => chat(op, summary, request, reply, true);

export const chatOps = {
  "chat.create": chat("chat.create", "Creates a room; a private one admits only `members` (the creator always). `conflict` when it exists.",
    z.strictObject({ room: roomName, title: z.string().max(200).optional(), private: z.boolean().optional(), members: z.array(username).max(1000).optional() }),
    z.object({ room: z.string(), created_at: z.number().int() })),
  "chat.join": chat("chat.join", "Joins a room (its events reach this connection); with `since_seq`, the newest page (50) of what was missed and `has_more`.",
    z.strictObject({ room: roomName, since_seq: seq.optional() }),
    z.object({ room: z.string(), last_seq: z.number().int(), epoch: z.string(), online: z.array(z.string()), missed: z.array(chatMessage).optional(), has_more: z.boolean().optional() })),
  "chat.leave": chat("chat.leave", "Leaves a room: this connection gets its events no more.", z.strictObject({ room: roomName }), z.object({})),
  "chat.send": chat("chat.send", "Sends `body` (at most 16 KiB) or `ciphertext` (base64, at most 64 KiB, with `enc` stored untouched); a repeated `client_msg_id` returns the original.",
    z.strictObject({ room: roomName, ...content }), sent),
  "chat.history": chatRead("chat.history", "Messages in ascending `seq`, `limit` (default 50, at most 200) before `before_seq` and/or after `after_seq` (the newest page when neither bounds it from below).",
    z.strictObject({ room: roomName, before_seq: seq.optional(), after_seq: seq.optional(), limit: z.number().int().min(1).max(200).optional() }),
    z.object({ messages: z.array(chatMessage), has_more: z.boolean() })),
  "chat.rooms": chatRead("chat.rooms", "The public rooms and the private rooms the caller is a member of, with the caller's `unread` count in each.",
    z.strictObject({}),
    z.object({ rooms: z.array(z.object({ room: z.string(), title: z.string(), private: z.boolean(), members: z.array(z.string()), last_seq: z.number().int(), unread: z.number().int() })) })),
  "chat.dm": chat("chat.dm", "Sends to the private two-member room of the caller and `to` (the same room whoever starts it), created on first use.",
    z.strictObject({ to: username, ...content }), sent),
  "chat.receipt": chat("chat.receipt", "Tells the author of message `seq` it was `delivered` or `read`; `read` also moves the caller's read position (unread counts).",
    z.strictObject({ room: roomName, seq: z.number().int().min(1), kind: z.enum(["delivered", "read"]) }), z.object({})),
  "chat.typing": chat("chat.typing", "Tells the room's other connections the caller is typing (never stored).", z.strictObject({ room: roomName }), z.object({})),
  "chat.presence": chatRead("chat.presence", "The users online in a room.", z.strictObject({ room: roomName }), z.object({ room: z.string(), online: z.array(z.string()) })),
  "chat.keys.publish": chat("chat.keys.publish", "Publishes one of the caller's public keys for end-to-end encryption (a `key_id` again replaces it).",
    z.strictObject({ key_id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), public_key: z.string().min(1).max(4096) }), z.object({})),
  "chat.keys.get": chatRead("chat.keys.get", "A user's published public keys (none: an empty list).",
    z.strictObject({ username }), z.object({ username: z.string(), keys: z.array(z.object({ key_id: z.string(), public_key: z.string() })) })),
};

/** Events to the connections that joined a room (channel `room.<room>`), and receipts to a message's author (`user.<id>`). */
export const chatEvents = {
  "chat.message": defineEvent({ event: "chat.message", service: "chat", summary: "A new message in a joined room; never to the connection that sent it.", data: chatMessage }),
  "chat.presence": defineEvent({ event: "chat.presence", service: "chat", summary: "A user came online in a joined room (their first connection joined) or went offline (their last left, or was lost with its gateway).",
    data: z.object({ room: z.string(), username: z.string(), state: z.enum(["online", "offline"]) }) }),
  "chat.typing": defineEvent({ event: "chat.typing", service: "chat", summary: "Someone is typing in a joined room (not stored).", data: z.object({ room: z.string(), from: z.string() }) }),
  "chat.receipt": defineEvent({ event: "chat.receipt", service: "chat", summary: "A message of the user's was delivered to or read by `from`. To every connection of the author.",
    data: z.object({ room: z.string(), seq: z.number().int(), from: z.string(), kind: z.enum(["delivered", "read"]) }) }),
};

// dmRoom lives in a file of its own without zod, so the browser bundle (apps/web) can name DM rooms without pulling in every schema.
export { dmRoom } from "./dm-room.ts";
