/**
 * The raw pull requests under the work-consumer recipe (consumer.ts), and
 * the delivered message with its acknowledgement verbs.
 *
 * The high-level `fetch` of @nats-io/jetstream always waits at least a
 * second on an empty consumer; a worker that prefers one consumer over
 * another must ask each "anything now?" and move on at once (`Puller`,
 * `no_wait` requests), and otherwise keep a request standing so a new
 * message is delivered the moment it is stored (`StandingPull`).
 *
 * Both hand back nothing by themselves: the owner decides what a delivery
 * becomes. Both `drain()` rather than close: a request the server still
 * holds can deliver after we stop listening (the unsubscribe is in flight,
 * or crosses a route in a cluster), and a delivery nobody reads waits out
 * ack_wait. So each keeps its subscription until its requests have ended.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import { newInbox } from "./connect.ts";

/** One delivery of a work consumer, as a handler sees it. */
export interface WorkMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs;
  /** Stream sequence. */
  readonly seq: number;
  /** 1 on the first delivery; more after a nak or an expired ack_wait. */
  readonly deliveryCount: number;
  /** The durable that delivered it. */
  readonly consumer: string;
  json<T = unknown>(): T;
  /** Done: never redeliver. */
  ack(): void;
  /** Redeliver after `delayMs` (to any instance). */
  nak(delayMs?: number): void;
  /** Never redeliver, without success. */
  term(reason?: string): void;
  /** Still working on it: restarts the ack_wait (stall) timer. */
  working(): void;
  /** Neither: this delivery was superseded (redelivered elsewhere), so ack_wait decides. */
  leave(): void;
  /** Whether ack, nak, term or leave was called. */
  readonly settled: boolean;
}

const TERM = new TextEncoder().encode("+TERM");

/** A delivered message (a class: a closure per verb per message was measurable). */
export class PulledMsg implements WorkMsg {
  readonly seq: number;
  readonly deliveryCount: number;
  readonly consumer: string;
  settled = false;
  /** When the work last showed life (delivery or working()): a failure long after it is stale. */
  lastLife = Date.now();

  constructor(private readonly nc: NatsConnection, private readonly m: Msg) {
    // `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...` (v1) or with domain and account hash (v2).
    const t = m.reply!.split(".");
    if (t.length === 9) t.splice(2, 0, "_", "");
    this.consumer = t[5];
    this.deliveryCount = Number(t[6]);
    this.seq = Number(t[7]);
  }

  get subject(): string { return this.m.subject; }
  get data(): Uint8Array { return this.m.data; }
  get headers(): MsgHdrs | undefined { return this.m.headers; }
  json<T>(): T { return this.m.json<T>(); }
  ack(): void { this.settle("+ACK"); }
  nak(delayMs?: number): void { this.settle(delayMs && delayMs > 0 ? `-NAK ${JSON.stringify({ delay: Math.round(delayMs * 1_000_000) })}` : "-NAK"); }
  term(reason?: string): void { this.settle(reason ? `+TERM ${reason}` : "+TERM"); }
  leave(): void { this.settled = true; }
  working(): void {
    this.lastLife = Date.now();
    this.send("+WPI");
  }

  /** A term the server confirms (a dead letter must not come back and be hooked again); throws if unconfirmed. */
  async termConfirmed(timeoutMs = 5000): Promise<void> {
    this.settled = true;
    await this.nc.request(this.m.reply!, TERM, { timeout: timeoutMs });
  }

  private settle(body: string): void {
    this.settled = true;
    this.send(body);
  }

  private send(body: string): void {
    if (!this.nc.isClosed()) this.nc.publish(this.m.reply!, body);
  }
}

/** A delivered message (its reply is the ack subject), as opposed to a status such as 404 or 408. */
const isDelivery = (m: Msg) => m.reply?.startsWith("$JS.ACK.") === true;
/** A request's end that says the durable is gone: 409 "Consumer Deleted" (503 "no responders" says it for a new request). */
const CONSUMER_DELETED = -1;
/** The status that ended a request (`CONSUMER_DELETED` for a 409 that says so). */
const statusOf = (m: Msg): number => {
  const code = m.headers?.code ?? 0;
  return code === 409 && /deleted/i.test(m.headers?.description ?? "") ? CONSUMER_DELETED : code;
};
/** Whether a request's end says the durable is missing (deleted, or lost with its stream). */
export const isMissingStatus = (code: number) => code === 503 || code === CONSUMER_DELETED;

function requestNext(nc: NatsConnection, stream: string, consumer: string, body: object, inbox: string): void {
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify(body), { reply: inbox });
}

/** Resolves when `done()` is true (checked on `poke()`) or after `ms`. */
function lingering(ms: number, done: () => boolean): { until: Promise<void>; poke(): void } {
  let resolve!: () => void;
  const until = new Promise<void>((r) => (resolve = r));
  const timer = setTimeout(resolve, ms);
  const poke = () => { if (done()) { clearTimeout(timer); resolve(); } };
  poke();
  return { until, poke };
}

/**
 * `no_wait` pulls: up to `max` messages a consumer has ready now, in one
 * request, answered on this puller's own inbox (a pulled message arrives
 * with its stream subject, so a plain request cannot match it). A request
 * ends when `max` messages came, or with a status (404 nothing ready, 408
 * fewer than asked). Messages that come after their pull gave up waiting
 * (the server was slow) go to `onLate`, never to a later pull, which may
 * be of another consumer.
 */
export class Puller {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private waiting: { max: number; got: WorkMsg[]; done: () => void } | null = null;
  /** Requests that gave up waiting and have not ended yet: they may still deliver. */
  private late = 0;
  private drained: { poke(): void } | null = null;
  /** The status that ended the last request (0: none, or it ended by count). */
  lastStatus = 0;

  constructor(private readonly nc: NatsConnection, onLate: (m: WorkMsg) => void) {
    this.inbox = newInbox(nc);
    this.sub = nc.subscribe(this.inbox, {
      callback: (_err, m) => {
        const isMsg = isDelivery(m);
        const w = this.waiting;
        if (!w) {
          if (isMsg) onLate(new PulledMsg(this.nc, m));
          else if (this.late > 0) { this.late--; this.drained?.poke(); }
          return;
        }
        if (isMsg) w.got.push(new PulledMsg(this.nc, m));
        else this.lastStatus = statusOf(m);
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
    this.lastStatus = 0;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      const w = { max, got, done: resolve };
      this.waiting = w;
      timer = setTimeout(() => {
        if (this.waiting === w) { this.waiting = null; this.late++; }
        resolve();
      }, timeoutMs);
      requestNext(this.nc, stream, consumer, { batch: max, no_wait: true }, this.inbox);
    });
    clearTimeout(timer);
    return got;
  }

  /** Stops listening once no request that gave up can still deliver (at most `maxMs`). */
  async drain(maxMs = 2000): Promise<void> {
    const d = lingering(this.nc.isClosed() ? 0 : maxMs, () => this.late === 0);
    this.drained = d;
    await d.until;
    this.sub.unsubscribe();
  }
}

/**
 * A standing pull request on one consumer, renewed by its owner: the server
 * delivers each message the moment one is ready, with no round trip per
 * message. One request is live at a time; it ends when its `batch` messages
 * came, when it expires (a 408 status), on any other status, or after a
 * reconnect (the server forgets requests of a closed connection).
 */
export class StandingPull {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private live: { left: number; endsAt: number } | null = null;
  private drained: { poke(): void } | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly consumer: string,
    private readonly expiresMs: number,
    onMsg: (m: WorkMsg) => void,
    /** A request ended, with the status that ended it (0: by count, clock or reconnect): the owner may ask again. */
    private readonly onEnded: (status: number) => void,
  ) {
    this.inbox = newInbox(nc);
    this.sub = nc.subscribe(this.inbox, {
      callback: (_err, m) => {
        if (isDelivery(m)) {
          if (this.live && --this.live.left <= 0) this.end(0);
          onMsg(new PulledMsg(nc, m));
        } else if ((m.headers?.code ?? 0) !== 100) {
          this.end(statusOf(m));
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

  /** Asks for up to `batch` messages unless a request is live already, or the pull is draining. */
  request(batch: number): void {
    if (batch <= 0 || this.active || this.drained || this.nc.isClosed()) return;
    // A little slack past the expiry before we stop believing in it, for a 408 that never came.
    this.live = { left: batch, endsAt: Date.now() + this.expiresMs + 1000 };
    requestNext(this.nc, this.stream, this.consumer, { batch, expires: this.expiresMs * 1_000_000 }, this.inbox);
  }

  /** The connection was re-established: the request died with the old one. */
  forget(): void {
    this.end(0);
  }

  private end(status: number): void {
    if (!this.live) return;
    this.live = null;
    this.drained?.poke();
    this.onEnded(status);
  }

  /** Asks no more, and stops listening once the live request has ended: what it still delivers goes to `onMsg`. */
  async drain(): Promise<void> {
    const d = lingering(this.nc.isClosed() ? 0 : this.remainingMs(), () => !this.active);
    this.drained = d;
    await d.until;
    this.live = null;
    this.sub.unsubscribe();
  }
}
