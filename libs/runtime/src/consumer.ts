/**
 * The work-consumer recipe (design.md section 4): work that must happen once
 * goes through a durable pull consumer shared by every instance.
 *
 * - handler resolves -> ack (confirmed by the server);
 * - throws a ColmenaError whose `retryable` is false -> dead letter at once;
 * - throws anything else -> `nak` with a delay that grows with the delivery
 *   count (a bare nak makes a poison message spin), until `maxDeliver`
 *   deliveries have failed -> dead letter;
 * - dead letter = `onDeadLetter(msg, err)` then a confirmed `term`.
 *
 * max_deliver: the server is told `maxDeliver + 1`. The extra delivery is
 * reserved for the dead-letter hook: when the last real attempt crashed or
 * stalled past ack_wait (no handler result at all), the server still
 * delivers once more, and we call the hook instead of the handler. So the
 * hook runs for every message that exhausts its deliveries, exactly once
 * unless the final term itself is lost (then at least once).
 *
 * A handler that fails after staying silent (no working()) for longer than
 * ack_wait has lost its delivery to a redelivery: its failure is dropped
 * (no nak, no dead letter) and the redelivery decides. Its success is still
 * acked: the work is done, and the ack stops further redeliveries.
 *
 * Messages are fetched only for free handler slots, never buffered ahead:
 * a message waiting in a client buffer has its ack_wait running, and one
 * that waits past it is redelivered elsewhere and then handled twice.
 */
import { jetstream, jetstreamManager, type Consumer, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ColmenaError } from "@colmena/protocol";
import { counter, histogram } from "./metrics.ts";
import { ensureDurable, type DurableSpec } from "./consumer-setup.ts";

/** One unit of work as the handler sees it. */
export interface WorkMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  json<T = unknown>(): T;
  headers?: MsgHdrs;
  /** 1 on the first delivery. */
  deliveryCount: number;
  /** Tells the server the work goes on: restarts the ack_wait (stall) timer. */
  working(): void;
}

export interface WorkConsumerOptions {
  nc: NatsConnection;
  stream: string;
  durable: string;
  filterSubjects?: string[];
  /** The stall timeout: a delivery with no ack, nak or working() for this long is redelivered. Default 30000. */
  ackWaitMs?: number;
  /** Deliveries before a failing message is dead-lettered. Default 5. */
  maxDeliver?: number;
  /** Delay of the nak after a failed delivery. Default: exponential with jitter, 500 ms base, capped at 30 s. */
  backoffMs?: (deliveryCount: number) => number;
  /** Unacknowledged messages across all instances before the server pauses delivery. Default 1000. */
  maxAckPending?: number;
  /** Messages this instance handles at once. Default 1. */
  concurrency?: number;
  /** Resolve -> ack; ColmenaError with retryable false -> dead letter; any other throw -> nak(backoff). */
  handle(msg: WorkMessage): Promise<void>;
  /** Called once for a message that will not be retried, before its final term. If it throws, the delivery is nak'ed. */
  onDeadLetter?(msg: WorkMessage, err: unknown): Promise<void>;
  log: Logger;
  /** How long one pull waits for messages before it is renewed. Default 10000 (heartbeats every half of it). */
  fetchExpiresMs?: number;
}

export interface RunningConsumer {
  /** Stops fetching, hands back unstarted messages, and waits for in-flight handlers. */
  stop(): Promise<void>;
}

/** `min(30 s, 500 ms * 2^(n-1))`, scaled by a random factor in [0.5, 1) so retries of a burst spread out. */
export function defaultBackoff(deliveryCount: number): number {
  const full = Math.min(30_000, 500 * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(full * (0.5 + Math.random() * 0.5));
}

const outcomes = counter("colmena_work_messages_total", "work messages by outcome (ack, nak, dead_letter, stale)", ["consumer", "outcome"]);
const duration = histogram("colmena_work_handle_seconds", "time a work handler takes", ["consumer"], [0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120]);
const TERM = new TextEncoder().encode("+TERM");

/** Creates or updates the durable, then handles its messages until `stop()`. */
export async function runConsumer(opts: WorkConsumerOptions): Promise<RunningConsumer> {
  const maxDeliver = opts.maxDeliver ?? 5;
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  const spec: DurableSpec = {
    stream: opts.stream,
    durable: opts.durable,
    filterSubjects: opts.filterSubjects,
    ackWaitMs: opts.ackWaitMs ?? 30_000,
    serverMaxDeliver: maxDeliver + 1,
    maxAckPending: opts.maxAckPending ?? 1000,
  };
  const log = opts.log.child({ consumer: opts.durable });
  const jsm = await jetstreamManager(opts.nc);
  const js = jetstream(opts.nc);
  await ensureDurable(jsm, spec);

  const inflight = new Set<Promise<void>>();
  let stopping = false;
  let current: ConsumerMessages | null = null;
  let wake: (() => void) | null = null;
  const napOrWake = (ms: number) => new Promise<void>((resolve) => {
    const t = setTimeout(() => { wake = null; resolve(); }, ms);
    wake = () => { clearTimeout(t); wake = null; resolve(); };
  });

  const start = (m: JsMsg) => {
    const p = handleOne(m, opts, maxDeliver, spec.ackWaitMs, log).finally(() => {
      inflight.delete(p);
      wake?.();
    });
    inflight.add(p);
  };

  const loop = async () => {
    let consumer: Consumer | null = null;
    let failures = 0;
    while (!stopping) {
      try {
        // A missing durable (deleted under us, or lost with its stream) is created again.
        if (!consumer) {
          if (failures > 0) await ensureDurable(jsm, spec);
          consumer = await js.consumers.get(opts.stream, opts.durable);
        }
        while (inflight.size >= concurrency && !stopping) await napOrWake(60_000);
        if (stopping) break;
        const batch = await consumer.fetch({ max_messages: concurrency - inflight.size, expires: opts.fetchExpiresMs ?? 10_000 });
        current = batch;
        if (stopping) await batch.close();
        for await (const m of batch) {
          // Not started yet: hand it straight back to another instance.
          if (stopping) m.nak();
          else start(m);
        }
        current = null;
        failures = 0;
      } catch (err) {
        current = null;
        if (stopping) break;
        consumer = null;
        failures++;
        log.warn({ err: String(err), failures }, "work consumer fetch failed; recovering");
        await napOrWake(Math.min(5000, 100 * 2 ** failures));
      }
    }
  };

  const running = loop();
  log.info({ stream: opts.stream, concurrency, maxDeliver }, "work consumer started");
  return {
    async stop() {
      if (stopping) return running;
      stopping = true;
      wake?.();
      await current?.close().catch(() => undefined);
      await running;
      await Promise.allSettled([...inflight]);
      log.info("work consumer stopped");
    },
  };
}

/** The handler's view of a delivery, and when it last showed signs of life (start or working()). */
function workMessage(m: JsMsg): { msg: WorkMessage; lastLife: () => number } {
  let life = Date.now();
  const msg: WorkMessage = {
    seq: m.seq,
    subject: m.subject,
    data: m.data,
    json: <T>() => m.json<T>(),
    headers: m.headers,
    deliveryCount: m.info.deliveryCount,
    working: () => { life = Date.now(); m.working(); },
  };
  return { msg, lastLife: () => life };
}

async function handleOne(m: JsMsg, opts: WorkConsumerOptions, maxDeliver: number, ackWaitMs: number, log: Logger): Promise<void> {
  const { msg, lastLife } = workMessage(m);
  const labels = { consumer: opts.durable };
  if (msg.deliveryCount > maxDeliver) {
    // The reserved delivery: the last real attempt never reported back.
    const err = new ColmenaError("timeout", `no result after ${maxDeliver} deliveries`, { retryable: false });
    return deadLetter(m, msg, err, opts, maxDeliver, log);
  }
  const end = duration.startTimer(labels);
  try {
    await opts.handle(msg);
    end();
    outcomes.inc({ ...labels, outcome: "ack" });
    await m.ackAck().catch((err) => log.warn({ seq: msg.seq, err: String(err) }, "ack not confirmed; the message may be redelivered"));
  } catch (err) {
    end();
    if (Date.now() - lastLife() > ackWaitMs) {
      // Silent past ack_wait: the server has handed this message to a new
      // delivery (here or elsewhere). A nak or dead letter now would double it.
      log.warn({ seq: msg.seq, delivery: msg.deliveryCount, err: String(err) }, "work failed after ack_wait; left to its redelivery");
      outcomes.inc({ ...labels, outcome: "stale" });
      return;
    }
    const permanent = err instanceof ColmenaError && !err.retryable;
    if (permanent || msg.deliveryCount >= maxDeliver) return deadLetter(m, msg, err, opts, maxDeliver, log);
    const delay = err instanceof ColmenaError && err.retryAfterMs !== undefined ? err.retryAfterMs : (opts.backoffMs ?? defaultBackoff)(msg.deliveryCount);
    log.warn({ seq: msg.seq, subject: msg.subject, delivery: msg.deliveryCount, delay, err: String(err) }, "work failed; retrying later");
    outcomes.inc({ ...labels, outcome: "nak" });
    m.nak(delay);
  }
}

async function deadLetter(m: JsMsg, msg: WorkMessage, err: unknown, opts: WorkConsumerOptions, maxDeliver: number, log: Logger): Promise<void> {
  log.error({ seq: msg.seq, subject: msg.subject, delivery: msg.deliveryCount, err: String(err) }, "work dead-lettered");
  try {
    await opts.onDeadLetter?.(msg, err);
  } catch (hookErr) {
    if (msg.deliveryCount <= maxDeliver) {
      // The hook gets another chance on a later delivery (the reserved one at the latest).
      log.error({ seq: msg.seq, err: String(hookErr) }, "dead-letter hook failed; retrying later");
      m.nak((opts.backoffMs ?? defaultBackoff)(msg.deliveryCount));
      return;
    }
    log.error({ seq: msg.seq, err: String(hookErr) }, "dead-letter hook failed on the last delivery; message dropped");
  }
  outcomes.inc({ consumer: opts.durable, outcome: "dead_letter" });
  await termConfirmed(m, opts.nc, log);
}

/** A term the server confirms, so a dead-lettered message is not delivered (and hooked) again. */
async function termConfirmed(m: JsMsg, nc: NatsConnection, log: Logger): Promise<void> {
  const reply = (m as JsMsg & { reply?: string }).reply;
  if (!reply) return m.term();
  try {
    await nc.request(reply, TERM, { timeout: 5000 });
  } catch (err) {
    log.warn({ seq: m.seq, err: String(err) }, "term not confirmed; the dead-letter hook may run again");
  }
}
