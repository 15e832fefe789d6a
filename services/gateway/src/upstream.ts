/**
 * One op routed to its service: a NATS request to `colmena.<op>` carrying the
 * gateway's headers (design.md section 2), and the reply read back: session
 * sequence, channel headers, and a service error turned into a ColmenaError.
 */
import { MsgHdrsImpl, NoRespondersError, RequestError, TimeoutError, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import { ColmenaError, Headers, MSGPACK_ENCODING, REPLICA_LOST_MS, codeOfStatus, isErrorCode, opSubject, type ConnHeader, type OpDef } from "@colmena/protocol";
import type { Conn, Encoding } from "./connection.ts";
import { requestRefusal } from "./request-refusal.ts";
import { ReplicaLostError, requesterOf } from "./requests.ts";

export interface CallOptions {
  timeoutMs: number;
  /** Caller identity instead of the connection's user (legacy anonymous tasks). */
  as?: { id: string; username: string };
  /** The frame's encoding: MessagePack data may hold raw bytes. */
  encoding?: Encoding;
}

/** A successful reply: its JSON text (or, answering MessagePack, its decoded value) and the channel changes it asks for. */
export interface ServiceReply {
  raw: string;
  /** The reply's value when the service answered in MessagePack (binary fields as raw bytes). */
  value?: unknown;
  subscribe: string[];
  unsubscribe: string[];
}

/** Time for the reply to travel back after the op's own deadline. */
const TRIP_SLACK_MS = 2_000;
/** No request waits longer than this, whatever it asks. */
const MAX_WAIT_MS = 600_000;

/** Ops that declare a timeout field (a task's `wait`) get the time they ask for, plus slack for the trip. */
export function timeoutFor(def: OpDef, data: Record<string, unknown>, baseMs: number): number {
  const t = def.timeout;
  if (!t || (t.when !== undefined && data[t.when] !== true)) return baseMs;
  const v = data[t.field];
  const asked = typeof v === "number" && v > 0 ? v : t.defaultMs;
  return Math.min(Math.max(baseMs, asked + TRIP_SLACK_MS), MAX_WAIT_MS);
}

/** The values of the connection headers an op declares, from the connection. */
const CONN_HEADERS: Record<ConnHeader, (conn: Conn) => string | undefined> = {
  tokenFamily: (conn) => conn.user?.family,
};

/**
 * Request headers written straight as NATS wire text, as MsgHdrsImpl would
 * write them (same order, same value check) without its per-call key lookups.
 * Only `encode` is used by a publish.
 */
class WireHeaders {
  private text = "NATS/1.0";
  set(k: string, v: string): void {
    this.text += `\r\n${k}: ${MsgHdrsImpl.validHeaderValue(v)}`;
  }
  encode(): Uint8Array {
    return Buffer.from(`${this.text}\r\n\r\n`);
  }
}

export async function callService(nc: NatsConnection, conn: Conn, def: OpDef, data: Record<string, unknown>, opts: CallOptions): Promise<ServiceReply> {
  const h = new WireHeaders();
  const user = opts.as ?? conn.validUser();
  if (user) {
    h.set(Headers.user, user.id);
    h.set(Headers.username, user.username);
  }
  h.set(Headers.conn, conn.id);
  h.set(Headers.remoteAddr, conn.remote.replace(/:\d+$/, "")); // `remote` is "<ip>:<port>"
  h.set(Headers.requestId, conn.nextRequestId());
  const minSeq = conn.seqs.get(def.service);
  if (minSeq) h.set(Headers.minSeq, String(minSeq));
  // MessagePack data goes on as MessagePack, so its raw bytes stay raw (libs/protocol/src/binary.ts).
  const msgpack = opts.encoding === "msgpack";
  if (msgpack) h.set(Headers.encoding, MSGPACK_ENCODING);
  // We read `Colmena-Working` keepalives (requests.ts): the service sends them while it works.
  h.set(Headers.working, "1");
  for (const k of def.connHeaders ?? []) {
    const v = CONN_HEADERS[k](conn);
    if (v) h.set(Headers[k], v);
  }

  let msg: Msg | undefined;
  const payload = msgpack ? msgpackEncode(data, { ignoreUndefined: true }) : JSON.stringify(data);
  // An idempotent op whose replica died holding it goes once more, to another replica.
  for (let attempt = 1; !msg; attempt++) {
    try {
      msg = await requesterOf(nc).request(opSubject(def.op), payload, h as unknown as MsgHdrs, opts.timeoutMs, REPLICA_LOST_MS);
    } catch (err) {
      if (err instanceof ReplicaLostError && def.idempotent && attempt === 1) continue;
      throw requestRefusal(err, def, nc) ?? requestFailure(err, def);
    }
  }
  const rh = msg.headers;
  const reply: ServiceReply = { raw: "{}", subscribe: [], unsubscribe: [] };
  // One pass over the reply's headers (exact names, as MsgHdrs.get would match them).
  let seq = 0;
  let status = "";
  let packed = false;
  if (rh) for (const [k, vs] of rh) {
    if (k === Headers.seq) seq = Number(vs[0] || 0);
    else if (k === Headers.serviceErrorCode) status = vs[0] ?? "";
    else if (k === Headers.subscribe) reply.subscribe = channelList(vs);
    else if (k === Headers.unsubscribe) reply.unsubscribe = channelList(vs);
    else if (k === Headers.encoding) packed = vs[0] === MSGPACK_ENCODING;
  }
  if (seq > 0) conn.noteSeq(def.service, seq);
  if (status) throw serviceError(msg, rh!, status);
  if (packed) reply.value = msgpackDecode(msg.data);
  else if (msg.data.length) reply.raw = msg.string();
  return reply;
}

function channelList(values: string[]): string[] {
  return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

function requestFailure(err: unknown, def: OpDef): ColmenaError {
  if (err instanceof ReplicaLostError)
    return new ColmenaError("unavailable", `the ${def.service} instance handling ${def.op} stopped answering (it died or lost NATS); it may have acted on it`);
  if (err instanceof TimeoutError || (err instanceof Error && err.cause instanceof TimeoutError))
    return new ColmenaError("timeout", `${def.service} did not answer ${def.op} in time`);
  if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders()))
    return new ColmenaError("unavailable", `no ${def.service} instance is running`);
  // Disconnected, draining or closed: the service cannot be reached right now.
  return new ColmenaError("unavailable", `${def.service} is unreachable: ${err instanceof Error ? err.message : String(err)}`);
}

/** `Nats-Service-Error-Code` plus the JSON body `{code, message, details}`; the headers alone when the body is not ours. */
function serviceError(msg: Msg, h: MsgHdrs, status: string): ColmenaError {
  try {
    const body = msg.json<{ code?: unknown; message?: unknown; details?: unknown; retry_after_ms?: unknown }>();
    if (body && isErrorCode(body.code) && typeof body.message === "string") {
      return new ColmenaError(body.code, body.message, {
        details: body.details,
        retryAfterMs: typeof body.retry_after_ms === "number" ? body.retry_after_ms : undefined,
      });
    }
  } catch {
    /* not JSON: fall back to the headers */
  }
  return new ColmenaError(codeOfStatus(Number(status)), h.get(Headers.serviceError) || "service error");
}
