/**
 * The work-consumer recipe (design.md section 4): work that must happen once
 * goes through durable pull consumers shared by every instance. One or more
 * durables, highest priority first (tasks has one per priority; most work
 * has one), run by `concurrency` handler slots.
 *
 * Outcomes: the handler resolves -> ack, unless it settled the message
 * itself (ack, nak, term, or leave); it throws -> consumer-outcome.ts (nak
 * with growing delay, dead letter after `maxDeliver` or on a permanent
 * error, nothing when it was stale). `working()` restarts ack_wait for long
 * work; with `heartbeat` the recipe says it for every message still in
 * hand each third of ack_wait, so ack_wait can be short (a dead instance's
 * messages go elsewhere within it) and a handler must bound its own time. With a finite `maxDeliver` the server is told one more: that
 * delivery, reserved for a message whose last attempt never reported back,
 * runs the dead-letter hook instead of the handler.
 *
 * Fetching, in two modes:
 * - While it has free slots, a standing pull request on each durable, for
 *   as many messages as there are free slots: a new message is delivered
 *   the moment it is stored, without a round trip. Up to one request's worth
 *   per durable can arrive at once; those that find no free slot wait in a
 *   small local buffer, by priority.
 * - Whenever a slot frees while messages are buffered, or a durable has no
 *   live request, a scan by priority: that durable's buffered messages, then
 *   a `no_wait` pull for the slots still free (a durable with a live request
 *   needs none: the server hands it anything waiting; nor does the last
 *   durable, whose new standing request takes what waits). So a waiting
 *   message of a higher durable always goes before those of lower ones.
 *
 * Nothing waits here long: a buffered message not started within `HOLD_MS`
 * is handed back (nak, once this instance's own request on that durable has
 * ended, so another instance gets it), because its ack_wait is running.
 *
 * Recovery: a request lost with the connection is renewed after the
 * reconnect; one ended by a leader move is renewed at once; a durable that
 * is missing (deleted, or lost with its stream) is created again.
 *
 * `stop()` asks no more, hands back buffered messages, keeps listening until
 * the server has ended this instance's requests (what they deliver meanwhile
 * is handed back, not left to wait out ack_wait), and waits for the running
 * handlers.
 */
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ensureDurable, type DurableSpec } from "./consumer-setup.ts";
import { defaultBackoff, exhausted, failed, type FailurePolicy } from "./consumer-outcome.ts";
import { Puller, StandingPull, isMissingStatus, type PulledMsg, type WorkMsg } from "./work-pull.ts";

export interface WorkConsumerSpec {
  durable: string;
  filterSubjects?: string[];
}

export interface WorkConsumerOptions {
  nc: NatsConnection;
  log: Logger;
  stream: string;
  /** The durables, highest priority first. Every instance of the worker names the same. */
  consumers: WorkConsumerSpec[];
  /** Resolve -> ack (unless settled by the handler); a ColmenaError with retryable false -> dead letter; any other throw -> nak(backoff). */
  handle(msg: WorkMsg): Promise<void>;
  /** Called once for a message that will not be retried, before its final term. If it throws, the delivery is nak'ed. */
  onDeadLetter?(msg: WorkMsg, err: unknown): Promise<void>;
  /** Messages this instance handles at once. Default 1. */
  concurrency?: number;
  /** The stall timeout: a delivery with no ack, nak or working() for this long is redelivered. Default 30000. */
  ackWaitMs?: number;
  /** Deliveries before a failing message is dead-lettered. Default 5; Infinity when the handler counts attempts itself. */
  maxDeliver?: number;
  /** Delay of the nak after a failed delivery. Default `defaultBackoff`. */
  backoffMs?: (deliveryCount: number) => number;
  /** Unacknowledged messages across all instances before the server pauses delivery. Default 1000. */
  maxAckPending?: number;
  /** Pull requests the server holds at once per durable (set at creation). Server default when absent. */
  maxWaiting?: number;
  /** How long a standing pull request lives before it is renewed. Default 2000. */
  requestExpiresMs?: number;
  /**
   * Say `working()` for each message in hand every third of ack_wait, so only
   * a dead (or frozen) instance's messages are redelivered, however long the
   * work: for handlers with timeouts of their own. Default false.
   */
  heartbeat?: boolean;
}

export interface RunningConsumer {
  /** Asks no more, hands back what it holds and what still arrives, and waits for in-flight handlers. */
  stop(): Promise<void>;
}

/** How long a message delivered to a full instance may wait here for a slot before it is handed back. */
const HOLD_MS = 50;

/**
 * One timer for every work consumer of the process rather than one each:
 * each firing wakes the process, and an idle Node process's wake-up costs
 * 0.2-0.4 ms of CPU on a small VM. Chat alone runs nine consumers; with a
 * 50 ms timer each, its idle services process took 3.0-3.3% of a core
 * (1.3-1.7% with them at 1 s); with this one, 2.2-2.3%.
 */
class SharedTicker {
  private readonly consumers = new Set<{ tick(): void }>();
  private timer: NodeJS.Timeout | undefined;

  add(c: { tick(): void }): void {
    this.consumers.add(c);
    this.timer ??= setInterval(() => { for (const x of this.consumers) x.tick(); }, HOLD_MS).unref();
  }

  delete(c: { tick(): void }): void {
    this.consumers.delete(c);
    if (this.consumers.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
const sharedTicker = new SharedTicker();

interface Lane {
  spec: DurableSpec;
  standing: StandingPull;
  /** Messages delivered while every slot was taken, with when they came. */
  held: { m: PulledMsg; at: number }[];
  /** The durable is being created again; skipped until then. */
  recovering: boolean;
  failures: number;
}

/** Creates or updates the durables, then handles their messages until `stop()`. */
export async function runConsumer(opts: WorkConsumerOptions): Promise<RunningConsumer> {
  const c = new WorkConsumer(opts, await jetstreamManager(opts.nc));
  await c.start();
  return c;
}

class WorkConsumer implements RunningConsumer {
  private readonly lanes: Lane[];
  private readonly byName = new Map<string, Lane>();
  /** The no-wait pulls of a scan by priority: only a consumer of several durables makes them. */
  private readonly puller: Puller | undefined;
  private readonly concurrency: number;
  private readonly policy: FailurePolicy;
  private readonly log: Logger;
  private inflight = new Set<Promise<void>>();
  /** The messages in hand (heartbeat). */
  private readonly inHand = new Set<PulledMsg>();
  private heartbeat: NodeJS.Timeout | null = null;
  private stopped = false;
  private stopping: Promise<void> | null = null;
  /** The look at the queues under way, if any. */
  private scanning: Promise<void> | null = null;
  private pumpQueued = false;
  private statuses: AsyncIterable<unknown> | null = null;

  constructor(private readonly opts: WorkConsumerOptions, private readonly jsm: JetStreamManager) {
    const { nc } = opts;
    const maxDeliver = opts.maxDeliver ?? 5;
    const ackWaitMs = opts.ackWaitMs ?? 30_000;
    const expiresMs = opts.requestExpiresMs ?? 2000;
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.log = opts.log.child({ consumer: opts.consumers.map((s) => s.durable).join(",") });
    this.policy = { maxDeliver, ackWaitMs, backoffMs: opts.backoffMs ?? defaultBackoff, onDeadLetter: opts.onDeadLetter, log: this.log };
    this.lanes = opts.consumers.map((s) => {
      const lane: Lane = {
        spec: {
          stream: opts.stream,
          durable: s.durable,
          filterSubjects: s.filterSubjects,
          ackWaitMs,
          serverMaxDeliver: Number.isFinite(maxDeliver) ? maxDeliver + 1 : -1,
          maxAckPending: opts.maxAckPending ?? 1000,
          maxWaiting: opts.maxWaiting,
        },
        standing: new StandingPull(nc, opts.stream, s.durable, expiresMs, (m) => this.delivered(lane, m as PulledMsg), (status) => {
          if (isMissingStatus(status)) this.missing(lane);
          this.pump();
        }),
        held: [],
        recovering: false,
        failures: 0,
      };
      this.byName.set(s.durable, lane);
      return lane;
    });
    // A no-wait pull that gave up: what it still delivers goes to its own durable's lane.
    this.puller = this.lanes.length < 2 ? undefined : new Puller(nc, (m) => {
      const lane = this.byName.get(m.consumer);
      if (lane) this.delivered(lane, m as PulledMsg);
      else m.nak();
    });
  }

  private get free(): number {
    return this.concurrency - this.inflight.size;
  }

  private get buffered(): number {
    let n = 0;
    for (const l of this.lanes) n += l.held.length;
    return n;
  }

  async start(): Promise<void> {
    try {
      for (const l of this.lanes) await ensureDurable(this.jsm, l.spec);
    } catch (err) {
      await this.stop();
      throw err;
    }
    const statuses = this.opts.nc.status();
    this.statuses = statuses;
    void (async () => {
      for await (const s of statuses) if (s.type === "reconnect") for (const l of this.lanes) l.standing.forget();
    })().catch(() => undefined);
    sharedTicker.add(this);
    if (this.opts.heartbeat) {
      const every = Math.max(100, Math.floor(this.policy.ackWaitMs / 3));
      this.heartbeat = setInterval(() => {
        const due = Date.now() - every;
        for (const m of this.inHand) if (!m.settled && m.lastLife <= due) m.working();
      }, every);
      this.heartbeat.unref();
    }
    this.pump();
    this.log.info({ stream: this.opts.stream, concurrency: this.concurrency, maxDeliver: this.policy.maxDeliver }, "work consumer started");
  }

  /** A message from a request: run it now if a slot is free, else hold it briefly. */
  private delivered(lane: Lane, m: PulledMsg): void {
    if (this.stopped) { m.nak(); return; }
    if (this.free > 0 && !this.scanning) { this.startWork(m); return; }
    lane.held.push({ m, at: Date.now() });
  }

  private startWork(m: PulledMsg): void {
    if (this.heartbeat) this.inHand.add(m);
    const p = this.run(m)
      .catch((err) => this.log.error({ err, seq: m.seq }, "work outcome failed; the message will be redelivered"))
      .finally(() => { this.inflight.delete(p); this.inHand.delete(m); this.pump(); });
    this.inflight.add(p);
  }

  private async run(m: PulledMsg): Promise<void> {
    if (m.deliveryCount > this.policy.maxDeliver) return exhausted(m, this.policy);
    try {
      await this.opts.handle(m);
      if (!m.settled) m.ack();
    } catch (err) {
      await failed(m, err, this.policy);
    }
  }

  /** Decides what to do next; coalesced, so a burst of finished messages costs one look. */
  private pump(): void {
    if (this.pumpQueued || this.stopped) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      if (this.stopped || this.scanning || this.free <= 0) return;
      if (this.buffered > 0 || this.lanes.some((l) => !l.standing.active && !l.recovering)) this.startScan();
    });
  }

  private startScan(): void {
    this.scanning = this.scan().finally(() => {
      this.scanning = null;
      // Messages that came while the look was under way wait for the next one.
      if (this.buffered > 0) this.pump();
    });
  }

  /** One look at the durables, by priority: this one's buffered messages, then a no-wait pull for the slots still free. */
  private async scan(): Promise<void> {
    for (const lane of this.lanes) {
      while (this.free > 0 && lane.held.length > 0) this.startWork(lane.held.shift()!.m);
      if (this.stopped || this.free <= 0) break;
      if (lane.standing.active || lane.recovering) continue;
      // The last durable (the only one, for most work) needs no no-wait pull first: its standing request
      // takes what waits at once, and no lower durable is left to go before. A pull and its 404 saved per message.
      if (this.puller && lane !== this.lanes[this.lanes.length - 1]) {
        const got = await this.puller.pullBatch(this.opts.stream, lane.spec.durable, this.free);
        for (const m of got) {
          if (this.stopped) m.nak();
          else this.startWork(m as PulledMsg);
        }
        if (isMissingStatus(this.puller.lastStatus)) { this.missing(lane); continue; }
      }
      // Drained (or slots full): from now on the server pushes what comes.
      if (this.free > 0 && !this.stopped) lane.standing.request(this.free);
    }
  }

  /** Every HOLD_MS (sharedTicker): renews requests the server ended silently, and hands back messages held too long. */
  tick(): void {
    this.handBack();
    this.pump();
  }

  /** Messages held past HOLD_MS go back; not before this instance's own request on that durable has ended. */
  private handBack(): void {
    if (this.buffered === 0) return;
    const cutoff = Date.now() - HOLD_MS;
    for (const lane of this.lanes) {
      const held = lane.held;
      while (held.length > 0 && held[0].at <= cutoff) held.shift()!.m.nak(lane.standing.remainingMs());
    }
  }

  /** The durable is gone (deleted, or lost with its stream, or not yet there after a restart): create it again, backing off. */
  private missing(lane: Lane): void {
    if (lane.recovering || this.stopped) return;
    lane.recovering = true;
    const wait = Math.min(5000, 100 * 2 ** lane.failures);
    void ensureDurable(this.jsm, lane.spec)
      .then(() => { lane.failures = 0; })
      .catch((err) => {
        lane.failures++;
        this.log.warn({ durable: lane.spec.durable, err: String(err), failures: lane.failures }, "work consumer missing; creating it again failed");
      })
      .then(() => new Promise((r) => setTimeout(r, wait).unref()))
      .finally(() => { lane.recovering = false; this.pump(); });
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      sharedTicker.delete(this);
      (this.statuses as { stop?(): void } | null)?.stop?.();
      for (const lane of this.lanes) for (const { m } of lane.held.splice(0)) m.nak();
      const drained = this.lanes.map((l) => l.standing.drain());
      await this.scanning;
      if (this.puller) drained.push(this.puller.drain());
      await Promise.all([...drained, Promise.allSettled([...this.inflight])]);
      // Handlers that finished while draining may have added nothing (stopped), but wait for any still going.
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.log.info("work consumer stopped");
    })();
    return this.stopping;
  }
}

