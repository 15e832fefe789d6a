/**
 * One bridged call on the gateway: START on the route's subject, then the
 * request body to the replica that ACCEPTed (read from the socket only while
 * the replica grants credit, so a stalled replica pauses the client), and the
 * replica's HEAD and DATA written to the response (acknowledged once the
 * socket took them, so a slow client slows the replica). Nobody to take the
 * call answers 503 at once; a replica that goes silent ends the response
 * within the deadline: 503 before its head, a destroyed socket after it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, statusOf } from "@colmena/protocol";
import type { Logger } from "pino";
import { isOverMaxPayload } from "../max-payload.ts";
import { ReceiveCredit, SendCredit } from "./credit.ts";
import { writeHttpError, writeSseRetry } from "./errors.ts";
import type { CallInboxes } from "./inboxes.ts";
import { Watchdog } from "./liveness.ts";
import { CHUNK_BYTES, HOP_BY_HOP, Kind, WINDOW_BYTES, decode, encode, encodeData, type AbortMsg, type AcceptMsg, type AckMsg, type HeadMsg, type Liveness, type StartMsg } from "./wire.ts";

/** A request to bridge, as the gateway admitted it. */
export interface BridgeRequest {
  /** The route's subject (`httpRouteSubject`). */
  subject: string;
  start: Omit<StartMsg, "window" | "keepaliveMs" | "deadlineMs">;
  req: IncomingMessage;
  res: ServerResponse;
  /** Headers on every response of the route, the gateway's own errors included. */
  headers: Readonly<Record<string, string>>;
  /**
   * Set for an EventSource's request (a long-lived route asked for
   * `text/event-stream`): `unavailable` before the head then answers as an
   * event stream that tells it to reconnect after this many ms (`writeSseRetry`), not 503.
   */
  sseRetryMs?: number;
}

const unavailable = (why: string) => new ColmenaError("unavailable", why, { retryAfterMs: 1000 });

export class GatewayCall {
  private toService = "";
  private done = false;
  private serviceGone = false;
  private credit = new SendCredit(0);
  private readonly received: ReceiveCredit;
  private readonly watchdog: Watchdog;
  private readonly inbox: { id: string; inbox: string; close(): void };
  private draining = false;
  private held = 0;
  private status = 0;
  private resolve: (status: number) => void = () => undefined;

  constructor(
    private readonly nc: NatsConnection,
    inboxes: CallInboxes,
    private readonly r: BridgeRequest,
    private readonly liveness: Liveness,
    private readonly log: Logger,
  ) {
    this.inbox = inboxes.open((m) => this.onMessage(m));
    this.received = new ReceiveCredit(WINDOW_BYTES, (bytes) => this.send(Kind.ack, { bytes } satisfies AckMsg));
    this.watchdog = new Watchdog(
      liveness,
      () => this.send(Kind.ping),
      () => this.fail(unavailable(this.toService ? "the service stopped answering mid-call" : "no instance of the service took the call")),
    );
  }

  /** Runs the call; resolves with the status sent, or 0 when the response was cut off. */
  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.resolve = resolve));
    this.r.res.on("close", () => {
      if (this.done) return;
      // The client went away: the replica stops (its handler's signal aborts).
      this.send(Kind.abort, { reason: "the client closed the connection" } satisfies AbortMsg);
      this.finish(0);
    });
    const start: StartMsg = { ...this.r.start, window: WINDOW_BYTES, keepaliveMs: this.liveness.keepaliveMs, deadlineMs: this.liveness.deadlineMs };
    try {
      this.nc.publish(this.r.subject, encode(Kind.start, start), { reply: this.inbox.inbox });
    } catch (err) {
      this.fail(isOverMaxPayload(err) ? new ColmenaError("bad_request", "the request's headers are too large") : unavailable("the gateway cannot reach NATS"));
    }
    return done;
  }

  private onMessage(m: Msg): void {
    this.watchdog.heard();
    // No subscriber on the route's subject: NATS answers the START's reply with status 503.
    if (!this.toService && m.data.length === 0 && m.headers?.code === 503) return this.fail(unavailable("no instance of the service is running"));
    const msg = decode(m.data);
    switch (msg.kind) {
      case Kind.accept:
        return this.accepted(m, msg.json<AcceptMsg>());
      case Kind.head:
        return this.head(msg.json<HeadMsg>());
      case Kind.data:
        return this.data(msg.bytes());
      case Kind.ack:
        return this.credit.ack(msg.json<AckMsg>().bytes);
      case Kind.end:
        if (!this.r.res.headersSent) return this.fail(new ColmenaError("internal", "the service ended a call without answering it"));
        this.r.res.end();
        return this.finish(this.status);
      case Kind.abort:
        this.serviceGone = true;
        return this.fail(unavailable(`the service gave up on the call: ${msg.json<AbortMsg>().reason}`));
    }
  }

  private accepted(m: Msg, a: AcceptMsg): void {
    if (this.toService || !m.reply) return;
    this.toService = m.reply;
    this.credit = new SendCredit(a.window);
    if (this.r.start.body) this.pumpRequest().catch((err) => this.log.debug({ err }, "http request body not sent"));
  }

  private head(h: HeadMsg): void {
    const res = this.r.res;
    if (res.headersSent || this.done) return;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(h.headers)) if (!HOP_BY_HOP.has(k.toLowerCase())) headers[k] = v;
    this.status = h.status;
    // Answered before the whole request body came (507, 413): the rest is not read, so the
    // connection closes after the answer rather than be reused with unread bytes in it.
    if (this.r.start.body && !this.r.req.complete) res.shouldKeepAlive = false;
    try {
      res.writeHead(h.status, { ...headers, ...this.r.headers });
    } catch (err) {
      this.log.warn({ err, status: h.status }, "a service answered an unusable HTTP head");
      this.fail(new ColmenaError("internal", "the service answered an unusable HTTP head"));
    }
  }

  /** Writes a chunk; it is acknowledged once the socket took it (at once, or at its next drain). */
  private data(bytes: Buffer): void {
    const res = this.r.res;
    if (this.done) return;
    if (!res.headersSent) return this.fail(new ColmenaError("internal", "the service sent a body before its head"));
    const flushed = res.write(bytes);
    if (flushed && !this.draining) return this.received.consume(bytes.length, true);
    this.held += bytes.length;
    if (this.draining) return;
    this.draining = true;
    res.once("drain", () => {
      this.draining = false;
      const n = this.held;
      this.held = 0;
      this.received.consume(n, true);
    });
  }

  /** Reads the request body as the replica's credit allows, coalescing what the socket has into chunks of up to CHUNK_BYTES. */
  private async pumpRequest(): Promise<void> {
    const req = this.r.req;
    const more = new Wake(req);
    try {
      await this.pumpFrom(req, more);
    } finally {
      more.detach();
    }
  }

  private async pumpFrom(req: IncomingMessage, more: Wake): Promise<void> {
    for (;;) {
      const parts: Buffer[] = [];
      let n = 0;
      let c: Buffer | null = null;
      while (n < CHUNK_BYTES && (c = req.read() as Buffer | null) !== null) {
        parts.push(c);
        n += c.length;
      }
      if (n > 0 && !(await this.sendBytes(parts.length === 1 ? parts[0] : Buffer.concat(parts)))) return;
      if (this.done) return;
      // `complete` with nothing left buffered is the end: 'end' itself may wait for another read.
      // Checked before `destroyed`: a request that ended while its last bytes waited for credit is
      // destroyed by then (node destroys a finished request), and its END must still go out, or the
      // handler waits for it for ever (PINGs keep the call alive).
      if (req.readableEnded || (req.complete && req.readableLength === 0)) return void this.send(Kind.end);
      if (req.destroyed) return;
      // Wait only when nothing came: what arrived while the bytes were sent is read first.
      if (n === 0) await more.next();
    }
  }

  private async sendBytes(bytes: Buffer): Promise<boolean> {
    for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
      const piece = bytes.subarray(at, at + CHUNK_BYTES);
      if (!(await this.credit.take(piece.length)) || this.done) return false;
      this.send(Kind.data, piece);
    }
    return true;
  }

  private fail(err: ColmenaError): void {
    if (this.done) return;
    this.send(Kind.abort, { reason: err.message } satisfies AbortMsg);
    const cut = this.r.res.headersSent;
    if (!cut && err.code === "unavailable" && this.r.sseRetryMs !== undefined) {
      writeSseRetry(this.r.res, err, this.r.sseRetryMs, this.r.headers);
      return this.finish(200);
    }
    writeHttpError(this.r.res, err, this.r.headers);
    this.finish(cut ? 0 : statusOf(err.code));
  }

  private finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.watchdog.stop();
    this.credit.close();
    this.inbox.close();
    this.resolve(status);
  }

  private send(kind: Kind, payload?: unknown): void {
    if (!this.toService || this.serviceGone || (this.done && kind !== Kind.abort)) return;
    try {
      this.nc.publish(this.toService, kind === Kind.data ? encodeData(payload as Uint8Array) : encode(kind, payload));
    } catch (err) {
      this.log.debug({ err }, "http bridge message not sent");
    }
  }
}

/**
 * Wakes the pump when the request has more to read, ended, or broke. The
 * listeners stay attached for the whole body: a `readable` listener removed
 * and added again can miss the end of the stream.
 */
class Wake {
  private resolve: (() => void) | null = null;
  /** An event came while nobody waited: the next wait returns at once. */
  private pending = false;
  private readonly go = () => {
    const r = this.resolve;
    this.resolve = null;
    if (r) r();
    else this.pending = true;
  };

  constructor(private readonly req: IncomingMessage) {
    req.on("readable", this.go);
    req.on("end", this.go);
    req.on("close", this.go);
  }

  next(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.resolve = resolve));
  }

  detach(): void {
    this.req.off("readable", this.go);
    this.req.off("end", this.go);
    this.req.off("close", this.go);
  }
}
