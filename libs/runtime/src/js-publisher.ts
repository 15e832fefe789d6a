/**
 * JetStream publishes with their acknowledgements, and last-message reads,
 * on one inbox subscription: the transport under `EntityLog`. Every task
 * costs a stored write or two and a read, and the client's `js.publish` and
 * `streams.getMessage` go through a general request each (a fresh request
 * object, a timer, and Error objects made up front for their stack traces;
 * "no message found", the common answer to a worker's read, even builds a
 * JetStreamApiError): a measurable share of the CPU per task. Here a request is a PUB with a reply subject
 * under this publisher's inbox and a map entry; one interval sweeps the
 * ones that waited too long.
 *
 * The outcomes are those of `js.publish` and `getMessage`: the ack (`seq`,
 * `duplicate`) or the message (null when there is none), a
 * `JetStreamApiError` when the stream refused (for example a wrong last
 * subject sequence, or 429 when the stream's ingest queue is full), or a
 * plain Error when no answer came (no stream leader, a timeout, the
 * connection dropped with the request in flight, a closed connection),
 * which callers retry. Nothing here retries: that is `EntityLog`'s job.
 */
import { headers, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { newInbox } from "./connect.ts";
import { JetStreamApiError } from "@nats-io/jetstream";

/** No answer from JetStream: a timeout, no stream leader (503), or the connection dropped or closed first. */
export class JetStreamUnanswered extends Error {
  override name = "JetStreamUnanswered";
}

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** A stored message as `$JS.API.STREAM.MSG.GET` answers it. */
export interface StoredMessage {
  subject: string;
  seq: number;
  data: Buffer;
  /** Raw NATS headers block, when the message has headers. */
  headers?: string;
}

/** One message of an atomic batch. */
export interface BatchMsg {
  subject: string;
  body: string | Uint8Array;
  msgId?: string;
  lastSubjectSequence?: number;
}

/** nats-server's limit on the messages of one atomic batch. */
export const MAX_ATOMIC_BATCH = 1000;

interface Waiting {
  resolve(m: Msg): void;
  reject(err: Error): void;
  deadline: number;
}

interface ApiError {
  code: number;
  err_code: number;
  description: string;
}

interface AckBody {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: ApiError;
}

interface GetBody {
  message?: { subject: string; seq: number; data?: string; hdrs?: string };
  error?: ApiError;
}

/** JetStream's "no message found" error code. */
const NO_MESSAGE_FOUND = 10037;

export class JsPublisher {
  private readonly prefix: string;
  private readonly waiting = new Map<string, Waiting>();
  private next = 0;
  private sweeper: NodeJS.Timeout | null = null;

  /** `timeoutMs`: how long a publish waits for its ack (as the JetStream client's default, 5 s). */
  constructor(private readonly nc: NatsConnection, private readonly timeoutMs = 5000) {
    this.prefix = `${newInbox(nc)}.`;
    nc.subscribe(`${this.prefix}*`, { callback: (_err, m) => this.answer(m) });
    void nc.closed().then(() => this.failAll("connection closed"));
    void this.failOnDisconnect();
  }

  /**
   * Publishes to a stream's subject and waits for its ack. `msgId` is
   * `Nats-Msg-Id` (the stream stores one message per id within its duplicate
   * window); `lastSubjectSequence` is `Nats-Expected-Last-Subject-Sequence`
   * (refused unless the subject's last message has this sequence, 0: none);
   * `extra`: more headers (a message schedule's, for one).
   */
  async publish(subject: string, body: string | Uint8Array, msgId?: string, lastSubjectSequence?: number, extra?: Readonly<Record<string, string>>): Promise<PubAck> {
    let h: MsgHdrs | undefined;
    if (msgId !== undefined || lastSubjectSequence !== undefined || extra) {
      h = headers();
      if (msgId !== undefined) h.set("Nats-Msg-Id", msgId);
      if (lastSubjectSequence !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(lastSubjectSequence));
      for (const [k, v] of Object.entries(extra ?? {})) h.set(k, v);
    }
    const ack = parse<AckBody>(await this.request(subject, body, h));
    if (ack.error) throw new JetStreamApiError(ack.error);
    return { stream: ack.stream ?? "", seq: ack.seq ?? 0, duplicate: ack.duplicate === true };
  }

  /**
   * Publishes `msgs` as one atomic batch (nats-server 2.12+, the stream needs
   * `allow_atomic`; at most MAX_ATOMIC_BATCH): stored together or not at all,
   * so the batch's writes share the stream's fsyncs. Each message keeps its
   * own id and expectation, but one that fails refuses the whole batch (a
   * JetStreamApiError, as a duplicate id in it does). Resolves with the
   * batch's last sequence: the messages are stored contiguously, in order.
   */
  async publishBatch(batchId: string, msgs: readonly BatchMsg[]): Promise<PubAck> {
    const last = msgs.length - 1;
    let ack: Promise<Msg> | undefined;
    for (let i = 0; i <= last; i++) {
      const m = msgs[i];
      const h = headers();
      if (m.msgId !== undefined) h.set("Nats-Msg-Id", m.msgId);
      if (m.lastSubjectSequence !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(m.lastSubjectSequence));
      h.set("Nats-Batch-Id", batchId);
      h.set("Nats-Batch-Sequence", String(i + 1));
      if (i < last) this.nc.publish(m.subject, m.body, { headers: h });
      else {
        // Only the commit asks for an answer: the batch's ack, or why it was refused.
        h.set("Nats-Batch-Commit", "1");
        ack = this.request(m.subject, m.body, h);
      }
    }
    const body = parse<AckBody>(await ack!);
    if (body.error) throw new JetStreamApiError(body.error);
    return { stream: body.stream ?? "", seq: body.seq ?? 0, duplicate: false };
  }

  /** The last message of `stream` on `subject` (from the stream leader), or null if there is none. */
  async lastBySubject(stream: string, subject: string): Promise<StoredMessage | null> {
    const r = parse<GetBody>(await this.request(`$JS.API.STREAM.MSG.GET.${stream}`, JSON.stringify({ last_by_subj: subject })));
    if (r.error) {
      if (r.error.err_code === NO_MESSAGE_FOUND) return null;
      throw new JetStreamApiError(r.error);
    }
    const m = r.message!;
    return { subject: m.subject, seq: m.seq, data: Buffer.from(m.data ?? "", "base64"), headers: m.hdrs ? Buffer.from(m.hdrs, "base64").toString("latin1") : undefined };
  }

  /** Purges `subject` from `stream` (from the stream leader); resolves with the number of messages purged. */
  async purgeSubject(stream: string, subject: string): Promise<number> {
    const r = parse<{ purged?: number; error?: ApiError }>(await this.request(`$JS.API.STREAM.PURGE.${stream}`, JSON.stringify({ filter: subject })));
    if (r.error) throw new JetStreamApiError(r.error);
    return r.purged ?? 0;
  }

  private request(subject: string, body: string | Uint8Array, h?: MsgHdrs): Promise<Msg> {
    if (this.nc.isClosed()) return Promise.reject(new JetStreamUnanswered("connection closed"));
    const token = (++this.next).toString(36);
    return new Promise<Msg>((resolve, reject) => {
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

  /**
   * An answer due on a connection that dropped never comes (the server sends
   * it to the old connection), so the requests in flight fail at once and
   * their callers retry after the reconnect instead of waiting out the timeout.
   */
  private async failOnDisconnect(): Promise<void> {
    for await (const s of this.nc.status()) if (s.type === "disconnect") this.failAll("disconnected before JetStream answered");
  }

  private answer(m: Msg): void {
    const token = m.subject.slice(this.prefix.length);
    const w = this.waiting.get(token);
    if (!w) return; // answered after its timeout
    this.waiting.delete(token);
    // A status without a body: 503 when no stream leader took the request.
    if (m.data.length === 0) {
      const code = m.headers?.code ?? 0;
      w.reject(code === 503 ? new JetStreamUnanswered("no responders: the stream is not available") : new Error(`JetStream answered status ${code}`));
      return;
    }
    w.resolve(m);
  }

  private sweep(): void {
    const now = Date.now();
    // Insertion order is deadline order: stop at the first one still in time.
    for (const [token, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(token);
      w.reject(new JetStreamUnanswered(`no JetStream answer in ${this.timeoutMs} ms`));
    }
    if (this.waiting.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  private failAll(why: string): void {
    for (const w of this.waiting.values()) w.reject(new JetStreamUnanswered(why));
    this.waiting.clear();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}

function parse<T>(m: Msg): T {
  try {
    return m.json<T>();
  } catch (err) {
    throw new Error(`unreadable JetStream answer: ${(err as Error).message}`);
  }
}
