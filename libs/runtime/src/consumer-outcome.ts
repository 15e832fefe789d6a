/**
 * What the work-consumer recipe (consumer.ts) does with a delivery whose
 * handler threw, or that came back once too often:
 *
 * - a ColmenaError with `retryable: false` -> dead letter at once;
 * - anything else -> `nak` with a delay that grows with the delivery count
 *   (a bare nak makes a poison message spin; `retryAfterMs` overrides it),
 *   until `maxDeliver` deliveries have failed -> dead letter;
 * - dead letter = `onDeadLetter(msg, err)`, then a confirmed `term`.
 *
 * A handler that fails after staying silent (no working()) for longer than
 * ack_wait has lost its delivery to a redelivery: its failure is dropped
 * (no nak, no dead letter) and the redelivery decides.
 */
import type { Logger } from "pino";
import { ColmenaError } from "@colmena/protocol";
import { counter } from "./metrics.ts";
import type { PulledMsg, WorkMsg } from "./work-pull.ts";

/** Exponential backoff with equal jitter: `min(maxMs, baseMs * 2^(n-1))`, half of it fixed, half random, so retries of a burst spread out. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + Math.random() * (d / 2));
}

/** The recipe's default nak delay: from 500 ms, doubling, capped at 30 s, with jitter. */
export const defaultBackoff = (deliveryCount: number): number => backoffDelay(deliveryCount, 500, 30_000);

export interface FailurePolicy {
  /** Deliveries before a failing message is dead-lettered (Infinity: only permanent errors are). */
  maxDeliver: number;
  ackWaitMs: number;
  backoffMs(deliveryCount: number): number;
  onDeadLetter?(msg: WorkMsg, err: unknown): Promise<void>;
  log: Logger;
}

export const outcomes = counter("colmena_work_messages_total", "failed work messages by outcome (nak, dead_letter, stale)", ["consumer", "outcome"]);

/** A handler threw: retry later, dead-letter, or (stale) leave it to its redelivery. */
export async function failed(m: PulledMsg, err: unknown, p: FailurePolicy): Promise<void> {
  const at = { seq: m.seq, subject: m.subject, delivery: m.deliveryCount, err: String(err) };
  if (m.settled) {
    p.log.warn(at, "work handler threw after settling its message");
    return;
  }
  if (Date.now() - m.lastLife > p.ackWaitMs) {
    // Silent past ack_wait: the server has handed this message to a new
    // delivery (here or elsewhere). A nak or dead letter now would double it.
    p.log.warn(at, "work failed after ack_wait; left to its redelivery");
    outcomes.inc({ consumer: m.consumer, outcome: "stale" });
    m.leave();
    return;
  }
  const permanent = err instanceof ColmenaError && !err.retryable;
  if (permanent || m.deliveryCount >= p.maxDeliver) return deadLetter(m, err, p);
  const delay = err instanceof ColmenaError && err.retryAfterMs !== undefined ? err.retryAfterMs : p.backoffMs(m.deliveryCount);
  p.log.warn({ ...at, delay }, "work failed; retrying later");
  outcomes.inc({ consumer: m.consumer, outcome: "nak" });
  m.nak(delay);
}

/** The delivery reserved for the dead-letter hook: the last real attempt never reported back. */
export function exhausted(m: PulledMsg, p: FailurePolicy): Promise<void> {
  return deadLetter(m, new ColmenaError("timeout", `no result after ${p.maxDeliver} deliveries`, { retryable: false }), p);
}

async function deadLetter(m: PulledMsg, err: unknown, p: FailurePolicy): Promise<void> {
  p.log.error({ seq: m.seq, subject: m.subject, delivery: m.deliveryCount, err: String(err) }, "work dead-lettered");
  try {
    await p.onDeadLetter?.(m, err);
  } catch (hookErr) {
    if (m.deliveryCount <= p.maxDeliver) {
      // The hook gets another chance on a later delivery (the reserved one at the latest).
      p.log.error({ seq: m.seq, err: String(hookErr) }, "dead-letter hook failed; retrying later");
      m.nak(p.backoffMs(m.deliveryCount));
      return;
    }
    p.log.error({ seq: m.seq, err: String(hookErr) }, "dead-letter hook failed on the last delivery; message dropped");
  }
  outcomes.inc({ consumer: m.consumer, outcome: "dead_letter" });
  // Confirmed, so a dead-lettered message is not delivered (and hooked) again.
  await m.termConfirmed().catch((e) => p.log.warn({ seq: m.seq, err: String(e) }, "term not confirmed; the dead-letter hook may run again"));
}
