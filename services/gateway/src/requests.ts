/**
 * Request/reply over one NATS connection, like `nc.request` but cheaper per
 * request: nats.js builds an Error (with a stack trace) for every request it
 * completes, plus a timer promise and a `Promise.race`. Here one wildcard
 * inbox subscription takes every reply, and requests with the same timeout
 * share one timer (they expire in the order they were sent). Failures are
 * the errors nats.js gives (TimeoutError, NoRespondersError, ...), so callers
 * map them as before.
 *
 * A request may ask for liveness: then the service's `Colmena-Working`
 * keepalives (libs/runtime's ServiceHost sends one a second while it works)
 * each renew a shorter deadline, and a request that hears nothing for that
 * long fails with `ReplicaLostError`: the replica that took it died, so the
 * caller need not wait out the op's whole deadline.
 */
import {
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Payload,
} from "@nats-io/transport-node";
import { Headers } from "@colmena/protocol";
import { newInbox } from "@colmena/runtime";

/** The replica handling a request went silent (no reply, no keepalive) for the liveness window. */
export class ReplicaLostError extends Error {
  constructor(readonly subject: string, windowMs: number) {
    super(`no reply and no keepalive on ${subject} for ${windowMs} ms`);
  }
}

interface Pending {
  subject: string;
  deadline: number;
  queue: Queue;
  /** With liveness: how long a silence may last, and when the current one ends. */
  liveness?: number;
  alive?: number;
  resolve(msg: Msg): void;
  reject(err: Error): void;
}

/** The pending requests of one timeout, oldest first, and the timer for the oldest. */
interface Queue {
  ms: number;
  entries: Map<string, Pending>;
  timer: NodeJS.Timeout | undefined;
}

export class Requester {
  private readonly prefix: string;
  private readonly pending = new Map<string, Pending>();
  private readonly queues = new Map<number, Queue>();
  private seq = 0;
  private sweep: NodeJS.Timeout | undefined;
  private lastSweep = 0;
  /** While the NATS connection is down no keepalive can come; silences are not counted. */
  private paused = false;
  private outbox: { token: string; subject: string; data: Payload; headers: MsgHdrs | undefined }[] = [];
  /** The inbox subscription failed; the next request makes a new requester. */
  broken = false;

  constructor(private readonly nc: NatsConnection) {
    this.prefix = `${newInbox(nc)}.`;
    nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        if (!err) return this.onReply(msg);
        this.broken = true;
        this.failAll(new RequestError(err.message, { cause: err }));
      },
    });
    void nc.closed().then(() => this.failAll(new RequestError("connection closed")));
    void this.watchPermissions();
  }

  request(subject: string, data: Payload, headers: MsgHdrs | undefined, timeoutMs: number, livenessMs?: number): Promise<Msg> {
    const nc = this.nc;
    if (nc.isClosed()) return Promise.reject(new ClosedConnectionError());
    if (nc.isDraining()) return Promise.reject(new DrainingConnectionError());
    const token = (++this.seq).toString(36);
    // Alone (nothing in flight, nothing queued): no one to share a write with, so no turn's wait.
    const sent = this.pending.size === 0 && this.outbox.length === 0;
    if (sent) {
      try {
        nc.publish(subject, data, { reply: this.prefix + token, headers });
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<Msg>((resolve, reject) => {
      let queue = this.queues.get(timeoutMs);
      if (!queue) {
        queue = { ms: timeoutMs, entries: new Map(), timer: undefined };
        this.queues.set(timeoutMs, queue);
      }
      const p: Pending = { subject, deadline: performance.now() + timeoutMs, queue, resolve, reject };
      if (livenessMs !== undefined && livenessMs < timeoutMs) {
        p.liveness = livenessMs;
        p.alive = performance.now() + livenessMs;
        this.sweep ??= setInterval(() => this.sweepSilent(), Math.max(50, Math.floor(livenessMs / 8)));
      }
      this.pending.set(token, p);
      queue.entries.set(token, p);
      if (!queue.timer) this.arm(queue, timeoutMs);
      if (sent) return;
      this.outbox.push({ token, subject, data, headers });
      if (this.outbox.length === 1) setImmediate(this.flush);
    });
  }

  /**
   * Publishes what was asked since the last flush. Requests that arrive on
   * many client sockets in one event-loop turn thus leave in one write to
   * NATS (nats.js flushes per microtask turn, i.e. after every socket read).
   */
  private readonly flush = (): void => {
    const out = this.outbox;
    this.outbox = [];
    for (const o of out) {
      try {
        this.nc.publish(o.subject, o.data, { reply: this.prefix + o.token, headers: o.headers });
      } catch (err) {
        const p = this.pending.get(o.token);
        if (!p) continue;
        this.settle(o.token, p);
        p.reject(err as Error);
      }
    }
  };

  private onReply(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const p = this.pending.get(token);
    if (!p) return;
    if (msg.data.length === 0 && msg.headers?.get(Headers.working)) {
      if (p.liveness !== undefined) p.alive = performance.now() + p.liveness;
      return;
    }
    this.settle(token, p);
    // A status-only 503 is the server saying nobody subscribes to the subject.
    if (msg.data.length === 0 && msg.headers?.code === 503) p.reject(new NoRespondersError(p.subject));
    else p.resolve(msg);
  }

  private settle(token: string, p: Pending): void {
    this.pending.delete(token);
    p.queue.entries.delete(token);
  }

  private arm(queue: Queue, ms: number): void {
    queue.timer = setTimeout(() => this.expire(queue), Math.max(1, Math.ceil(ms)));
  }

  /** Times out every request of the queue that is due, then waits for the next oldest. */
  private expire(queue: Queue): void {
    queue.timer = undefined;
    const now = performance.now();
    for (const [token, p] of queue.entries) {
      if (p.deadline > now) return this.arm(queue, p.deadline - now);
      this.settle(token, p);
      p.reject(new TimeoutError());
    }
    if (queue.entries.size === 0) this.queues.delete(queue.ms);
  }

  /** Fails the requests whose replica went silent. */
  private sweepSilent(): void {
    const now = performance.now();
    // A sweep that comes late means this event loop was blocked: keepalives could not be read either.
    const late = this.lastSweep > 0 && now - this.lastSweep > 1_000;
    this.lastSweep = now;
    if (this.paused || late) {
      for (const p of this.pending.values()) if (p.liveness !== undefined) p.alive = now + p.liveness;
      return;
    }
    let watched = 0;
    for (const [token, p] of this.pending) {
      if (p.alive === undefined) continue;
      if (p.alive > now) {
        watched++;
        continue;
      }
      this.settle(token, p);
      p.reject(new ReplicaLostError(p.subject, p.liveness!));
    }
    if (watched === 0) {
      clearInterval(this.sweep);
      this.sweep = undefined;
      this.lastSweep = 0;
    }
  }

  private failAll(err: Error): void {
    for (const [token, p] of this.pending) {
      this.settle(token, p);
      p.reject(err);
    }
    for (const q of this.queues.values()) clearTimeout(q.timer);
    this.queues.clear();
  }

  /** A request the server refused to route (no publish permission) fails at once, as with nc.request. */
  private async watchPermissions(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.broken) return;
      if (s.type === "disconnect") this.paused = true;
      if (s.type === "reconnect") {
        this.paused = false;
        const now = performance.now();
        for (const p of this.pending.values()) if (p.liveness !== undefined) p.alive = now + p.liveness;
      }
      if (s.type !== "error" || !(s.error instanceof PermissionViolationError)) continue;
      const pe = s.error;
      if (pe.operation !== "publish") continue;
      for (const [token, p] of this.pending) {
        if (p.subject !== pe.subject) continue;
        this.settle(token, p);
        p.reject(new RequestError(pe.message, { cause: pe }));
        break;
      }
    }
  }
}

const requesters = new WeakMap<NatsConnection, Requester>();

/** The requester of a connection, made on first use. */
export function requesterOf(nc: NatsConnection): Requester {
  let r = requesters.get(nc);
  if (!r || r.broken) requesters.set(nc, (r = new Requester(nc)));
  return r;
}
