/**
 * Batched pulls with `no_wait` from a durable pull consumer, and the
 * acknowledgement verbs. The high-level `fetch` of @nats-io/jetstream always
 * waits at least a second for an empty consumer; a worker that prefers high
 * over normal over low priority must ask each queue "anything now?" and move
 * on at once, which is what `no_wait` pull requests do.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

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

function wrap(nc: NatsConnection, m: Msg): WorkMsg {
  const reply = m.reply!;
  const info = parseAckSubject(reply);
  const send = (body: string) => { if (!nc.isClosed()) nc.publish(reply, body); };
  return {
    subject: m.subject,
    data: m.data,
    headers: m.headers,
    seq: info.seq,
    deliveryCount: info.deliveryCount,
    json: <T>() => m.json<T>(),
    ack: () => send("+ACK"),
    nak: (delayMs) => send(delayMs && delayMs > 0 ? `-NAK ${JSON.stringify({ delay: Math.round(delayMs * 1_000_000) })}` : "-NAK"),
    working: () => send("+WPI"),
    term: (reason) => send(reason ? `+TERM ${reason}` : "+TERM"),
  };
}

/**
 * Pulls with `no_wait`: up to `max` messages the consumer has ready now,
 * in one request. A pulled message arrives with its stream subject (not the
 * inbox), so a plain request cannot match it: the answers come on this
 * puller's own inbox subscription instead. A request ends when `max`
 * messages came, or with a status (404 nothing ready, 408 fewer than asked).
 * Messages that come after their pull gave up waiting are kept for the next.
 */
export class Puller {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private waiting: { max: number; got: WorkMsg[]; done: () => void } | null = null;
  private readonly stash: WorkMsg[] = [];

  constructor(private readonly nc: NatsConnection) {
    this.inbox = createInbox();
    this.sub = nc.subscribe(this.inbox, {
      callback: (_err, m) => {
        const isMsg = !!m.reply && m.reply.startsWith("$JS.ACK.");
        const w = this.waiting;
        if (!w) {
          if (isMsg) this.stash.push(wrap(this.nc, m));
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

  /** Takes one message if the consumer has one ready now, else null (also when the server does not answer in time). */
  async pull(stream: string, consumer: string, timeoutMs = 2000): Promise<WorkMsg | null> {
    return (await this.pullBatch(stream, consumer, 1, timeoutMs))[0] ?? null;
  }

  /** Takes up to `max` messages the consumer has ready now (none when the server does not answer in time). */
  async pullBatch(stream: string, consumer: string, max: number, timeoutMs = 2000): Promise<WorkMsg[]> {
    if (this.stash.length > 0) return this.stash.splice(0, max);
    if (this.nc.isClosed() || max <= 0) return [];
    const got: WorkMsg[] = [];
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      const w = { max, got, done: resolve };
      this.waiting = w;
      timer = setTimeout(() => { if (this.waiting === w) this.waiting = null; resolve(); }, timeoutMs);
      this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch: max, no_wait: true }), { reply: this.inbox });
    });
    clearTimeout(timer);
    return got;
  }

  /** Stops listening; messages taken but not run come back after ack_wait. */
  close(): void {
    this.sub.unsubscribe();
    for (const m of this.stash.splice(0)) m.nak();
  }
}
