/**
 * Batched pulls with `no_wait` from a durable pull consumer, and the
 * acknowledgement verbs. The high-level `fetch` of @nats-io/jetstream always
 * waits at least a second for an empty consumer; a worker that prefers high
 * over normal over low priority must ask each queue "anything now?" and move
 * on at once, which is what `no_wait` pull requests do.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import { newInbox } from "@colmena/runtime";

/** A message of the work queue, with what the worker needs of it. */
export interface WorkMsg {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs;
  /** Stream sequence. */
  seq: number;
  /** 1 on first delivery; more after a nak or an expired ack_wait. */
  deliveryCount: number;
  json<T>(): T;
  ack(): void;
  /** Redeliver after `delayMs`. */
  nak(delayMs?: number): void;
  /** Restarts the ack_wait timer: "still working on it". */
  working(): void;
  /** Never redeliver. */
  term(reason?: string): void;
}

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...` (v1) or with domain and account hash (v2). */
function parseAckSubject(reply: string): { deliveryCount: number; seq: number } {
  const t = reply.split(".");
  if (t.length === 9) t.splice(2, 0, "_", "");
  return { deliveryCount: Number(t[6]), seq: Number(t[7]) };
}

/** A pulled message with its acknowledgement verbs (a class: a closure per verb per message was measurable). */
class PulledMsg implements WorkMsg {
  readonly seq: number;
  readonly deliveryCount: number;

  constructor(private readonly nc: NatsConnection, private readonly m: Msg) {
    const info = parseAckSubject(m.reply!);
    this.seq = info.seq;
    this.deliveryCount = info.deliveryCount;
  }

  get subject(): string { return this.m.subject; }
  get data(): Uint8Array { return this.m.data; }
  get headers(): MsgHdrs | undefined { return this.m.headers; }
  json<T>(): T { return this.m.json<T>(); }
  ack(): void { this.send("+ACK"); }
  nak(delayMs?: number): void { this.send(delayMs && delayMs > 0 ? `-NAK ${JSON.stringify({ delay: Math.round(delayMs * 1_000_000) })}` : "-NAK"); }
  working(): void { this.send("+WPI"); }
  term(reason?: string): void { this.send(reason ? `+TERM ${reason}` : "+TERM"); }

  private send(body: string): void {
    if (!this.nc.isClosed()) this.nc.publish(this.m.reply!, body);
  }
}

const wrap = (nc: NatsConnection, m: Msg): WorkMsg => new PulledMsg(nc, m);

/** A delivered message (its reply is the ack subject), as opposed to a status such as 404 or 408. */
const isDelivery = (m: Msg) => m.reply?.startsWith("$JS.ACK.") === true;

/** Publishes a pull request for `body` on the consumer, answers to `inbox`. */
function requestNext(nc: NatsConnection, stream: string, consumer: string, body: object, inbox: string): void {
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify(body), { reply: inbox });
}

/**
 * Pulls with `no_wait`: up to `max` messages the consumer has ready now,
 * in one request. A pulled message arrives with its stream subject (not the
 * inbox), so a plain request cannot match it: the answers come on this
 * puller's own inbox subscription instead. A request ends when `max`
 * messages came, or with a status (404 nothing ready, 408 fewer than asked).
 * Messages that come after their pull gave up waiting (the server was slow
 * to answer) go to `onLate`: a later pull may be of another consumer, so
 * handing them to that one would break the owner's priority order.
 */
export class Puller {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private waiting: { max: number; got: WorkMsg[]; done: () => void } | null = null;

  constructor(private readonly nc: NatsConnection, onLate: (m: WorkMsg) => void) {
    this.inbox = newInbox(nc);
    this.sub = nc.subscribe(this.inbox, {
      callback: (_err, m) => {
        const isMsg = isDelivery(m);
        const w = this.waiting;
        if (!w) {
          if (isMsg) onLate(wrap(this.nc, m));
          return;
        }
        if (isMsg) w.got.push(wrap(this.nc, m));
        if (!isMsg || w.got.length >= w.max) {
          this.waiting = null;
          w.done();
        }
      },
    });
  }

  /** Takes up to `max` messages the consumer has ready now (none when the server does not answer in time). */
  async pullBatch(stream: string, consumer: string, max: number, timeoutMs = 2000): Promise<WorkMsg[]> {
    if (this.nc.isClosed() || max <= 0) return [];
    const got: WorkMsg[] = [];
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      const w = { max, got, done: resolve };
      this.waiting = w;
      timer = setTimeout(() => { if (this.waiting === w) this.waiting = null; resolve(); }, timeoutMs);
      requestNext(this.nc, stream, consumer, { batch: max, no_wait: true }, this.inbox);
    });
    clearTimeout(timer);
    return got;
  }

  /** Stops listening. */
  close(): void {
    this.sub.unsubscribe();
  }
}

/**
 * A standing pull request on one consumer, renewed by its owner: the
 * server delivers each message the moment one is ready, with no round trip
 * per message (the no-wait `Puller` above asks "anything now?" instead).
 * One request is live at a time; it ends when its `batch` messages came,
 * when it expires (a 408 status), on any other status, or after a reconnect
 * (the server forgets requests of a closed connection).
 */
export class StandingPull {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private live: { left: number; endsAt: number } | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly consumer: string,
    private readonly expiresMs: number,
    onMsg: (m: WorkMsg) => void,
    /** A request ended: the owner may ask again. */
    private readonly onEnded: () => void,
  ) {
    this.inbox = newInbox(nc);
    this.sub = nc.subscribe(this.inbox, {
      callback: (_err, m) => {
        if (isDelivery(m)) {
          if (this.live && --this.live.left <= 0) this.end();
          onMsg(wrap(nc, m));
        } else if ((m.headers?.code ?? 0) !== 100) {
          this.end();
        }
      },
    });
  }

  /** Whether a request is live now (one the server has not given up on, by our count or its clock). */
  get active(): boolean {
    if (this.live && Date.now() > this.live.endsAt) this.live = null;
    return this.live !== null;
  }

  /** How long the live request may still deliver, in ms (0: none is live). */
  remainingMs(): number {
    return this.active ? Math.max(0, this.live!.endsAt - Date.now()) : 0;
  }

  /** Asks for up to `batch` messages unless a request is live already. */
  request(batch: number): void {
    if (batch <= 0 || this.active || this.nc.isClosed()) return;
    // A little slack past the expiry before we stop believing in it, for a 408 that never came.
    this.live = { left: batch, endsAt: Date.now() + this.expiresMs + 1000 };
    requestNext(this.nc, this.stream, this.consumer, { batch, expires: this.expiresMs * 1_000_000 }, this.inbox);
  }

  /** The connection was re-established: the request died with the old one. */
  forget(): void {
    this.end();
  }

  private end(): void {
    if (!this.live) return;
    this.live = null;
    this.onEnded();
  }

  close(): void {
    this.live = null;
    this.sub.unsubscribe();
  }
}
