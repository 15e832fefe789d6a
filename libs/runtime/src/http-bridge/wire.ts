/**
 * The HTTP bridge's messages on NATS (docs/architecture.md, "HTTP routes").
 * A call is a conversation between one gateway and ONE replica:
 *
 *   gateway -> route subject (queue group = service):  START {method, path, ...}, reply = the gateway's call inbox
 *   replica -> gateway call inbox:                     ACCEPT {window}, reply = the replica's call inbox
 *   then, both ways on those two inboxes:              DATA (bytes) ... END, ACK {bytes}, PING, ABORT {reason}
 *   replica -> gateway:                                HEAD {status, headers} before its DATA
 *
 * Every message is one kind byte, then its payload: raw bytes for DATA, JSON
 * for the others. Flow control is by credit, in bytes: a side sends DATA only
 * while what it sent minus what the other side ACKed (cumulative bytes it has
 * consumed) stays within the window the other side announced (START's for the
 * response, ACCEPT's for the request body). PINGs both ways, and a deadline on
 * hearing anything from the peer, tell each side the other is gone.
 */
import type { HttpMethod } from "@colmena/protocol";

export const Kind = {
  start: 1,
  accept: 2,
  head: 3,
  data: 4,
  end: 5,
  ack: 6,
  ping: 7,
  abort: 8,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** The inbox scope of call inboxes (`_INBOX_<user>.http.<nuid>.<call>`), which nats-permissions.ts lets the peers publish to. */
export const HTTP_INBOX_SCOPE = "http";

/** Bytes per DATA message: well under NATS's max_payload (1 MiB by default). */
export const CHUNK_BYTES = 128 * 1024;
/** Unacknowledged bytes a sender may have in flight, each way. */
export const WINDOW_BYTES = 8 * CHUNK_BYTES;

export interface Liveness {
  /** How often each side PINGs the other while a call is open. */
  keepaliveMs: number;
  /** Hearing nothing from the peer for this long ends the call (replica or gateway gone). */
  deadlineMs: number;
}
export const DEFAULT_LIVENESS: Liveness = { keepaliveMs: 1000, deadlineMs: 4000 };

/** What START carries: the request as the gateway admitted it. */
export interface StartMsg {
  route: string;
  method: HttpMethod;
  path: string;
  /** The query string without `?` (and without a `token` the gateway consumed). */
  query: string;
  headers: Record<string, string>;
  user?: { id: string; username: string };
  remoteAddr?: string;
  /** Whether DATA/END of a request body follow (else the body is empty). */
  body: boolean;
  /** The response credit the gateway grants, in bytes. */
  window: number;
  /** The gateway's keepalive, so the replica's deadline matches it. */
  keepaliveMs: number;
  deadlineMs: number;
}

export interface AcceptMsg {
  /** The request-body credit the replica grants, in bytes. */
  window: number;
}

export interface HeadMsg {
  status: number;
  headers: Record<string, string>;
}

export interface AckMsg {
  /** Cumulative bytes consumed. */
  bytes: number;
}

export interface AbortMsg {
  reason: string;
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

export function encode(kind: Kind, payload?: unknown): Uint8Array {
  const body = payload === undefined ? new Uint8Array(0) : utf8.encode(JSON.stringify(payload));
  const out = new Uint8Array(body.length + 1);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

/** A DATA message: the kind byte, then the bytes. */
export function encodeData(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = Kind.data;
  out.set(bytes, 1);
  return out;
}

export interface Decoded {
  kind: number;
  /**
   * The payload after the kind byte, as a view (no copy): nats.js hands out
   * each message in a buffer of its own (a socket read, or the buffer it
   * assembled a larger message in) and never writes to it again.
   */
  bytes(): Buffer;
  json<T>(): T;
}

export function decode(data: Uint8Array): Decoded {
  const kind = data.length > 0 ? data[0] : 0;
  return {
    kind,
    bytes: () => Buffer.from(data.buffer, data.byteOffset + 1, data.length - 1),
    json: <T>() => JSON.parse(text.decode(data.subarray(1))) as T,
  };
}

/** Headers that describe one hop's connection, never passed across the bridge. */
export const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);
