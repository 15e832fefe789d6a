/**
 * Frames to ops (protocol.md sections 2-4): decode, rate-limit, validate the
 * envelope, check access, then answer locally (ops that name a built-in
 * `answer`) or route to the service, acting on what the op declares (its
 * session effect, timeout, connection headers). The router knows no op by
 * name: a new service adds ops without touching it. Requests of one
 * connection run concurrently; each gets exactly one reply, matched by id.
 */
import { decode as msgpackDecode } from "@msgpack/msgpack";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ColmenaError,
  FrameError,
  PROTOCOL_VERSION,
  errorReply,
  findOp,
  gatewayOp,
  legacyOpOf,
  okReply,
  parseRequest,
  parseWith,
  readId,
  type FrameId,
  type GatewayAnswer,
  type OpDef,
} from "@colmena/protocol";
import { counter, histogram, type Logger } from "@colmena/runtime";
import { needUser, type Sessions, type TokenVerifier } from "./auth.ts";
import type { ChannelHub } from "./channels.ts";
import type { GatewayConfig } from "./config.ts";
import type { Conn, Encoding } from "./connection.ts";
import type { Drain } from "./drain.ts";
import { handleLegacy, refuseLegacy } from "./legacy.ts";
import { listServices } from "./sys.ts";
import { callService, timeoutFor } from "./upstream.ts";

const frames = counter("colmena_gateway_frames_total", "frames received, by op and outcome", ["op", "outcome"]);
const latency = histogram("colmena_gateway_request_seconds", "time from a request frame to its reply", ["op"], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30]);

export interface RouterDeps {
  nc: NatsConnection;
  config: GatewayConfig;
  hub: ChannelHub;
  sessions: Sessions;
  tokens: TokenVerifier;
  log: Logger;
  /** The Colmena release, for `hello`. */
  version: string;
  /** In-flight counting and the refusal of new requests while the gateway shuts down. */
  drain: Drain;
}

type LocalHandler = (conn: Conn, data: Record<string, unknown>) => Promise<unknown> | unknown;

export class Router {
  private readonly admins: Set<string>;
  /** The gateway's built-in answers, by the name ops declare (`OpDef.answer`). */
  private readonly local: Record<GatewayAnswer, LocalHandler>;

  constructor(private readonly deps: RouterDeps) {
    this.admins = new Set(deps.config.admins.map((a) => a.toLowerCase()));
    this.local = {
      greeting: (conn) => ({
        server: "colmena",
        version: deps.version,
        protocol: PROTOCOL_VERSION,
        max_frame_bytes: deps.config.maxFrameBytes,
        ...(conn.validUser() ? { user: { user_id: conn.user!.id, username: conn.user!.username } } : {}),
      }),
      clock: () => ({ ts: Date.now() }),
      token: async (conn, data) => {
        const claims = await deps.tokens.verify(String(data.access_token));
        await deps.sessions.bind(conn, claims);
        return { user_id: claims.userId, username: claims.username };
      },
      identity: (conn) => ({ user_id: conn.user!.id, username: conn.user!.username }),
      services: () => listServices(deps.nc),
    };
  }

  /** A JSON text frame (a TCP line or a WebSocket text message). */
  onText(conn: Conn, text: string): void {
    conn.touch();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.refuse(conn, null, new FrameError(null, "a frame must be valid JSON"), "json");
    }
    this.run(conn, value, "json");
  }

  /** No input may crash the process: whatever escapes a request is logged, never thrown. */
  private run(conn: Conn, value: unknown, enc: Encoding): void {
    const { drain } = this.deps;
    drain.enter();
    this.dispatch(conn, value, enc)
      .catch((err) => conn.log.error({ err, conn: conn.id }, "frame handling failed"))
      .finally(() => drain.leave());
  }

  /** A MessagePack binary WebSocket message. */
  onBinary(conn: Conn, bytes: Uint8Array): void {
    conn.touch();
    let value: unknown;
    try {
      value = msgpackDecode(bytes, { maxStrLength: bytes.length, maxBinLength: bytes.length, maxArrayLength: bytes.length, maxMapLength: bytes.length });
    } catch {
      return this.refuse(conn, null, new FrameError(null, "a binary frame must be valid MessagePack"), "msgpack");
    }
    this.run(conn, value, "msgpack");
  }

  /** A frame over `COLMENA_MAX_FRAME_BYTES`; the transport decides whether to close. */
  tooLarge(conn: Conn, enc: Encoding): void {
    conn.touch();
    this.refuse(conn, null, new ColmenaError("frame_too_large", `frames are limited to ${this.deps.config.maxFrameBytes} bytes`), enc);
  }

  private refuse(conn: Conn, id: FrameId | null, err: ColmenaError, enc: Encoding, op = "-"): void {
    frames.inc({ op, outcome: err.code });
    conn.reply(errorReply(id, err.toBody()), enc);
  }

  private async dispatch(conn: Conn, value: unknown, enc: Encoding): Promise<void> {
    conn.encoding = enc;
    // Frames of the original clients come only over TCP.
    const legacyOp = conn.transport !== "ws" ? legacyOpOf(value) : undefined;
    const legacy = legacyOp?.legacy;
    const closing = this.deps.drain.refusal();
    if (closing) return legacy ? refuseLegacy(conn, legacy, closing) : this.refuse(conn, readId(value), closing, enc);
    const wait = conn.limiter.take();
    if (wait > 0) {
      const err = new ColmenaError("rate_limited", "too many requests on this connection", { retryAfterMs: wait });
      if (legacy) return refuseLegacy(conn, legacy, err);
      return this.refuse(conn, readId(value), err, enc);
    }
    if (legacyOp && legacy) {
      return handleLegacy(conn, legacyOp, legacy, value as Record<string, unknown>, { nc: this.deps.nc, config: this.deps.config, log: this.deps.log });
    }
    let id: FrameId | null = null;
    let def: OpDef | undefined;
    const start = performance.now();
    try {
      const req = parseRequest(value);
      id = req.id;
      def = findOp(req.op);
      if (!def) throw new ColmenaError("unknown_op", `no such operation: ${req.op.slice(0, 128)}`);
      this.checkAccess(conn, def);
      if (def.answer) {
        const data = parseWith(def.request, req.data);
        conn.reply(okReply(id, await this.local[def.answer](conn, data as Record<string, unknown>)), enc);
      } else {
        await this.forward(conn, id, def, req.data, enc);
      }
      frames.inc({ op: def.op, outcome: "ok" });
    } catch (e) {
      const err = e instanceof ColmenaError ? e : new ColmenaError("internal", `internal error on connection ${conn.id}`, { cause: e });
      if (err.code === "internal") conn.log.error({ err: e, conn: conn.id, op: def?.op }, "request failed");
      if (err instanceof FrameError) id = err.id;
      this.refuse(conn, id, err, enc, def?.op);
    } finally {
      if (def) latency.observe({ op: def.op }, (performance.now() - start) / 1000);
    }
  }

  private checkAccess(conn: Conn, def: OpDef): void {
    if (def.access === "public") return;
    const user = conn.validUser();
    if (!user) throw needUser(conn);
    if (def.access === "admin" && !this.admins.has(user.username.toLowerCase()))
      throw new ColmenaError("forbidden", `${def.op} is for operators (COLMENA_ADMINS)`);
  }

  private async forward(conn: Conn, id: FrameId, def: OpDef, data: Record<string, unknown>, enc: Encoding): Promise<void> {
    const { nc, hub, config, sessions } = this.deps;
    const reply = await callService(nc, conn, def, data, { timeoutMs: timeoutFor(def, data, config.requestTimeoutMs), encoding: enc });
    const ready = reply.subscribe.map((ch) => hub.join(conn, ch).ready);
    for (const ch of reply.unsubscribe) hub.leave(conn, ch);
    if (def.session === "login") {
      const body = (reply.value ?? JSON.parse(reply.raw)) as { access_token?: unknown };
      let claims;
      try {
        claims = await this.deps.tokens.verify(String(body.access_token));
      } catch (err) {
        conn.log.warn({ err, conn: conn.id, op: def.op }, "a login reply carried a token this gateway cannot verify");
        throw new ColmenaError("unauthorized", `logged in, but this gateway could not verify the token; send ${gatewayOp("token")?.op ?? "it again"}`);
      }
      await sessions.bind(conn, claims);
    } else if (def.session === "logout") {
      sessions.unbind(conn, "logout");
    }
    await Promise.all(ready);
    if (reply.value !== undefined) conn.reply(okReply(id, reply.value), enc);
    else conn.replyRaw(id, reply.raw, enc);
  }
}
