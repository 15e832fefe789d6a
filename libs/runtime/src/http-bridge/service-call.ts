/**
 * One bridged call on the replica that ACCEPTed it: runs the route's handler
 * with the request (its body pulled from the gateway under credit), then
 * sends HEAD and the response body, pulling the handler's body only while the
 * gateway has granted credit. A thrown ColmenaError answers its status; any
 * other throw is logged and answers `internal`. The gateway going away (ABORT,
 * or silence past the deadline) aborts the handler's signal.
 */
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import type { HttpAnswer, HttpCall, HttpHandler } from "@colmena/protocol";
import type { Logger } from "pino";
import { BodyQueue } from "./body-queue.ts";
import { SendCredit } from "./credit.ts";
import { asColmenaError, errorAnswer } from "./errors.ts";
import { Watchdog } from "./liveness.ts";
import { CHUNK_BYTES, HOP_BY_HOP, Kind, WINDOW_BYTES, decode, encode, encodeData, type AbortMsg, type AckMsg, type StartMsg } from "./wire.ts";

const utf8 = new TextEncoder();
const toBytes = (part: Uint8Array | string): Uint8Array => (typeof part === "string" ? utf8.encode(part) : part);

export class ServiceCall {
  private readonly controller = new AbortController();
  private readonly request: BodyQueue;
  private credit!: SendCredit;
  private watchdog!: Watchdog;
  /** `end`: finish cleanly now (a long-lived stream at shutdown); `abort`: the call is broken. */
  private closing: "no" | "end" | "abort" = "no";
  private gatewayGone = false;
  private toGateway = "";
  private closeInbox: () => void = () => undefined;
  status = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly start: StartMsg,
    private readonly log: Logger,
    /** A route whose responses stay open (Server-Sent Events): ended, not awaited, at shutdown. */
    readonly longLived: boolean,
  ) {
    this.request = new BodyQueue(WINDOW_BYTES, (bytes) => this.send(Kind.ack, { bytes } satisfies AckMsg), !start.body);
  }

  /** Accepts the call (pinning it to this replica) and runs it to its end. */
  async run(gatewayInbox: string, inboxes: { open(onMessage: (m: Msg) => void): { id: string; inbox: string; close(): void } }, handler: HttpHandler): Promise<void> {
    this.toGateway = gatewayInbox;
    this.credit = new SendCredit(this.start.window);
    const mine = inboxes.open((m) => this.onMessage(m));
    this.closeInbox = mine.close;
    this.watchdog = new Watchdog(
      { keepaliveMs: this.start.keepaliveMs, deadlineMs: this.start.deadlineMs },
      () => this.send(Kind.ping),
      () => this.broken("the gateway stopped answering", true),
    );
    try {
      this.nc.publish(gatewayInbox, encode(Kind.accept, { window: WINDOW_BYTES }), { reply: mine.inbox });
      const answer = await this.answer(handler, mine.id);
      if (this.closing !== "abort") await this.respond(answer, mine.id);
    } finally {
      this.watchdog.stop();
      this.credit.close();
      this.closeInbox();
    }
  }

  /** Ends the call now: cleanly (`end`, a long-lived stream at shutdown) or not (`abort`). */
  close(how: "end" | "abort", reason: string): void {
    if (how === "end") {
      if (this.closing !== "no") return;
      this.closing = "end";
      this.controller.abort(new Error(reason));
      this.credit?.close();
    } else this.broken(reason, false);
  }

  private async answer(handler: HttpHandler, id: string): Promise<HttpAnswer> {
    const s = this.start;
    const call: HttpCall = {
      route: s.route,
      method: s.method,
      path: s.path,
      query: new URLSearchParams(s.query),
      headers: s.headers,
      user: s.user,
      remoteAddr: s.remoteAddr,
      body: this.request,
      signal: this.controller.signal,
    };
    try {
      return await handler(call);
    } catch (err) {
      return this.failed(err, id);
    }
  }

  private failed(err: unknown, id: string): HttpAnswer {
    const e = asColmenaError(err, id);
    // A handler failing because the call broke (its body read threw) is no bug of its own.
    if (e.code === "internal" && this.closing !== "abort") this.log.error({ err, call: id, route: this.start.route }, "http handler failed");
    return errorAnswer(e);
  }

  private async respond(answer: HttpAnswer, id: string): Promise<void> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(answer.headers ?? {})) if (!HOP_BY_HOP.has(k.toLowerCase())) headers[k] = String(v);
    const body = answer.body;
    const whole = typeof body === "string" || body instanceof Uint8Array ? toBytes(body) : undefined;
    if (whole && !Object.keys(headers).some((k) => k.toLowerCase() === "content-length")) headers["Content-Length"] = String(whole.length);
    this.status = answer.status;
    this.send(Kind.head, { status: answer.status, headers });
    try {
      // HEAD gets the GET's headers and none of its body.
      if (this.start.method !== "HEAD" && body !== undefined) await this.pump(whole ?? (body as AsyncIterable<Uint8Array | string>));
    } catch (err) {
      const e = asColmenaError(err, id);
      this.log[e.code === "internal" ? "error" : "warn"]({ err, call: id, route: this.start.route }, "http response failed after its head");
      return this.broken(e.message, false);
    }
    if (this.closing !== "abort") this.send(Kind.end);
  }

  /** Sends the body in chunks of at most CHUNK_BYTES, each only once the gateway's credit allows. */
  private async pump(body: Uint8Array | AsyncIterable<Uint8Array | string>): Promise<void> {
    const sendAll = async (bytes: Uint8Array): Promise<boolean> => {
      for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
        const piece = bytes.subarray(at, at + CHUNK_BYTES);
        if (!(await this.credit.take(piece.length))) return false;
        this.nc.publish(this.toGateway, encodeData(piece));
      }
      return true;
    };
    if (body instanceof Uint8Array) return void (await sendAll(body));
    const it = body[Symbol.asyncIterator]();
    try {
      // The handler's body is pulled only once a chunk's worth of credit is there.
      while (await this.credit.ready(CHUNK_BYTES)) {
        const r = await it.next();
        if (r.done) return;
        if (!(await sendAll(toBytes(r.value)))) break;
      }
    } finally {
      if (this.closing !== "no") await it.return?.().catch(() => undefined);
    }
  }

  private onMessage(m: Msg): void {
    this.watchdog.heard();
    const msg = decode(m.data);
    switch (msg.kind) {
      case Kind.data:
        return this.request.push(msg.bytes());
      case Kind.end:
        return this.request.end();
      case Kind.ack:
        return this.credit.ack(msg.json<AckMsg>().bytes);
      case Kind.abort:
        return this.broken(msg.json<AbortMsg>().reason, true);
    }
  }

  /** The call cannot go on: the handler's signal aborts, its body stops; the gateway hears ABORT unless it is the one gone. */
  private broken(reason: string, byGateway: boolean): void {
    if (this.closing === "abort") return;
    this.closing = "abort";
    this.gatewayGone ||= byGateway;
    const err = Object.assign(new Error(`request aborted: ${reason}`), { name: "AbortError" });
    this.controller.abort(err);
    this.request.fail(err);
    this.credit?.close();
    if (!byGateway) this.send(Kind.abort, { reason } satisfies AbortMsg);
  }

  private send(kind: Kind, payload?: unknown): void {
    if (this.gatewayGone || !this.toGateway) return;
    try {
      this.nc.publish(this.toGateway, encode(kind, payload));
    } catch (err) {
      this.log.debug({ err }, "http bridge message not sent");
    }
  }

  /** Bytes of the request received and not yet read by the handler (what this call holds). */
  get bufferedBytes(): number {
    return this.request.buffered;
  }

  /** Response bytes sent and not yet acknowledged by the gateway. */
  get unackedBytes(): number {
    return this.credit?.inFlight ?? 0;
  }
}
