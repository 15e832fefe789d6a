/**
 * JetStream publishes with their acknowledgements, on one inbox
 * subscription. Every task costs four stored writes, and the client's
 * `js.publish` goes through a general request per write (a fresh request
 * object, a timer, and two Error objects made up front for their stack
 * traces): a measurable share of the CPU per task. Here a publish is a
 * PUB with a reply subject under this publisher's inbox and a map entry;
 * one interval sweeps the ones that waited too long.
 *
 * The outcome is the same as `js.publish`'s: the ack (`seq`, `duplicate`),
 * a `JetStreamApiError` when the stream refused the message (for example a
 * wrong last subject sequence), or a plain Error when no answer came (no
 * stream leader, a timeout, a closed connection), which callers retry.
 */
import { createInbox, headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

export interface PublishOptions {
  /** `Nats-Msg-Id`: the stream stores one message per id within its duplicate window. */
  msgId?: string;
  /** `Nats-Expected-Last-Subject-Sequence`: refused unless the subject's last message has this sequence. */
  lastSubjectSequence?: number;
}

interface Waiting {
  resolve(ack: PubAck): void;
  reject(err: Error): void;
  deadline: number;
}

interface AckBody {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code: number; err_code: number; description: string };
}

export class JsPublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly waiting = new Map<string, Waiting>();
  private next = 0;
  private sweeper: NodeJS.Timeout | null = null;

  /** `timeoutMs`: how long a publish waits for its ack (as the JetStream client's default, 5 s). */
  constructor(private readonly nc: NatsConnection, private readonly timeoutMs = 5000) {
    this.prefix = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, { callback: (_err, m) => this.answer(m) });
    void nc.closed().then(() => this.failAll("connection closed"));
  }

  publish(subject: string, body: string | Uint8Array, opts: PublishOptions = {}): Promise<PubAck> {
    if (this.nc.isClosed()) return Promise.reject(new Error("connection closed"));
    const token = (++this.next).toString(36);
    let h: MsgHdrs | undefined;
    if (opts.msgId !== undefined || opts.lastSubjectSequence !== undefined) {
      h = headers();
      if (opts.msgId !== undefined) h.set("Nats-Msg-Id", opts.msgId);
      if (opts.lastSubjectSequence !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(opts.lastSubjectSequence));
    }
    return new Promise<PubAck>((resolve, reject) => {
      this.waiting.set(token, { resolve, reject, deadline: Date.now() + this.timeoutMs });
      if (!this.sweeper) {
        this.sweeper = setInterval(() => this.sweep(), Math.min(250, this.timeoutMs));
        this.sweeper.unref();
      }
      try {
        this.nc.publish(subject, body, { reply: this.prefix + token, headers: h });
      } catch (err) {
        this.waiting.delete(token);
        reject(err as Error);
      }
    });
  }

  /** Fails what is still waiting and stops listening. */
  close(): void {
    this.sub.unsubscribe();
    this.failAll("publisher closed");
  }

  private answer(m: Msg): void {
    const token = m.subject.slice(this.prefix.length);
    const w = this.waiting.get(token);
    if (!w) return; // answered after its timeout
    this.waiting.delete(token);
    // A status without a body: 503 when no stream leader took the message.
    if (m.data.length === 0) {
      const code = m.headers?.code ?? 0;
      w.reject(new Error(code === 503 ? "no responders: the stream is not available" : `publish answered status ${code}`));
      return;
    }
    let ack: AckBody;
    try {
      ack = m.json<AckBody>();
    } catch (err) {
      w.reject(new Error(`unreadable publish ack: ${(err as Error).message}`));
      return;
    }
    if (ack.error) w.reject(new JetStreamApiError(ack.error));
    else w.resolve({ stream: ack.stream ?? "", seq: ack.seq ?? 0, duplicate: ack.duplicate === true });
  }

  private sweep(): void {
    const now = Date.now();
    // Insertion order is deadline order: stop at the first one still in time.
    for (const [token, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(token);
      w.reject(new Error(`no publish ack in ${this.timeoutMs} ms`));
    }
    if (this.waiting.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private failAll(why: string): void {
    for (const w of this.waiting.values()) w.reject(new Error(why));
    this.waiting.clear();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}
