/**
 * A client connection, whatever its transport: who it is, how its frames are
 * encoded, its outbound bound, its rate limiter, its channels and the highest
 * `Colmena-Seq` it has seen from each service (read-your-writes).
 */
import { encode as msgpackEncode } from "@msgpack/msgpack";
import type { FrameId, ReplyFrame, ServerFrame } from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import type { SharedText } from "./shared-text.ts";

export type Transport = "tcp" | "tls" | "ws";
/** How one frame travels: a JSON text (TCP line or WS text message) or a MessagePack WS binary message. */
export type Encoding = "json" | "msgpack";

/** The authenticated user of a connection, from a verified access token. */
export interface ConnUser {
  id: string;
  username: string;
  family: string;
  /** Token expiry, milliseconds since the epoch. */
  expiresAt: number;
}

/** What a transport gives a connection: framing, its unsent byte count, and a hard close. */
export interface Sink {
  writeText(text: string): void;
  /** A JSON text many connections get (a push), its bytes and framing shared. */
  writeShared(text: SharedText): void;
  writeBinary(bytes: Uint8Array): void;
  /** Bytes accepted for sending that the peer has not taken yet. */
  buffered(): number;
  /** Closes the transport; `graceful` lets what is queued go out first. */
  close(reason: string, graceful: boolean): void;
  /** A transport-level keepalive probe (WebSocket ping); its answer counts as activity. */
  ping?(): void;
}

/** Token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly rate: number, private readonly burst = rate) {
    this.tokens = burst;
  }

  /** Takes one token: 0 when allowed, else the milliseconds until one is due. */
  take(): number {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
  }
}

export interface ConnOptions {
  id: string;
  transport: Transport;
  remote: string;
  sink: Sink;
  rateLimit: number;
  outbufBytes: number;
  log: Logger;
}

/** JSON text for one frame; never contains a raw newline, so it is safe as a TCP line. */
const jsonOf = (frame: ServerFrame) => JSON.stringify(frame);

export class Conn {
  readonly id: string;
  readonly transport: Transport;
  readonly remote: string;
  readonly log: Logger;
  user: ConnUser | undefined;
  /** Encoding of the latest request; events follow it (a WS client speaking MessagePack gets MessagePack events). */
  encoding: Encoding = "json";
  readonly limiter: TokenBucket;
  /** Highest `Colmena-Seq` seen per service, sent back as `Colmena-Min-Seq`. */
  readonly seqs = new Map<string, number>();
  readonly channels = new Set<string>();
  lastActive = Date.now();
  closed = false;
  private frames = 0;
  private readonly closeHooks: (() => void)[] = [];

  constructor(private readonly opts: ConnOptions) {
    this.id = opts.id;
    this.transport = opts.transport;
    this.remote = opts.remote;
    this.log = opts.log;
    this.limiter = new TokenBucket(opts.rateLimit);
  }

  /** A request id unique across gateways: `<gateway id>-<conn number>-<frame counter>`. */
  nextRequestId(): string {
    return `${this.id}-${++this.frames}`;
  }

  /** The user while the token is unexpired. */
  validUser(now = Date.now()): ConnUser | undefined {
    return this.user && this.user.expiresAt > now ? this.user : undefined;
  }

  noteSeq(service: string, seq: number): void {
    if (Number.isSafeInteger(seq) && seq > (this.seqs.get(service) ?? 0)) this.seqs.set(service, seq);
  }

  touch(): void {
    this.lastActive = Date.now();
  }

  send(frame: ServerFrame, enc: Encoding = this.encoding): void {
    if (this.closed) return;
    if (enc === "msgpack") this.opts.sink.writeBinary(msgpackEncode(frame, { ignoreUndefined: true }));
    else this.opts.sink.writeText(jsonOf(frame));
    this.checkBound();
  }

  reply(frame: ReplyFrame, enc: Encoding): void {
    this.send(frame, enc);
  }

  /** An ok reply whose data is a service's JSON body: spliced, not re-parsed, for JSON clients. */
  replyRaw(id: FrameId, raw: string, enc: Encoding): void {
    if (enc === "json" && !raw.includes("\n")) {
      if (this.closed) return;
      this.opts.sink.writeText(`{"id":${JSON.stringify(id)},"ok":true,"data":${raw}}`);
      this.checkBound();
    } else {
      this.send({ id, ok: true, data: JSON.parse(raw) }, enc);
    }
  }

  /**
   * An event whose data is the JSON body of a push. `json` is its JSON frame,
   * encoded once for all JSON clients (undefined when the body holds a raw
   * newline); `parsed` decodes the body once for all MessagePack clients.
   */
  sendEvent(event: string, json: SharedText | undefined, parsed: () => unknown): void {
    if (this.closed) return;
    if (this.encoding === "json" && json !== undefined) {
      this.opts.sink.writeShared(json);
      this.checkBound();
    } else {
      this.send({ event, data: parsed() });
    }
  }

  /** Writes a pre-encoded JSON text (legacy frames). */
  sendText(text: string): void {
    if (this.closed) return;
    this.opts.sink.writeText(text);
    this.checkBound();
  }

  /** A client that does not read is dropped once its unsent bytes pass the bound, so memory stays bounded. */
  private checkBound(): void {
    const n = this.opts.sink.buffered();
    if (n > this.opts.outbufBytes) {
      this.log.warn({ conn: this.id, buffered: n }, "closing a connection that does not read");
      this.close("slow consumer", false);
    }
  }

  /** Sends a keepalive probe where the transport has one. */
  probe(): void {
    if (!this.closed) this.opts.sink.ping?.();
  }

  onClose(fn: () => void): void {
    this.closeHooks.push(fn);
  }

  /** Closes the transport and runs the hooks once (channels, metrics). */
  close(reason: string, graceful = true): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.opts.sink.close(reason, graceful);
    } catch (err) {
      this.log.debug({ err, conn: this.id }, "error closing a transport");
    }
    this.runCloseHooks();
  }

  /** The transport went away by itself. */
  gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.runCloseHooks();
  }

  private runCloseHooks(): void {
    for (const fn of this.closeHooks.splice(0)) {
      try {
        fn();
      } catch (err) {
        this.log.warn({ err, conn: this.id }, "close hook failed");
      }
    }
  }
}
