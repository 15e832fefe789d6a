/**
 * Drops a repeated `notify.event` (protocol.md section 8: the push is at
 * least once; a notify replica that died mid-fan-out has its fan-out redone,
 * and the same notification comes again with the same `notification_id`).
 * Remembers the most recent ids only, so memory stays bounded however long
 * the client runs: a repeat comes within seconds of the original (the
 * fan-out's ack wait), far inside the window.
 */
import type { EventFrame } from "@colmena/protocol";

export const REMEMBERED_NOTIFICATIONS = 4096;

export class NotifyRepeats {
  /** Insertion-ordered: the first key is the oldest. */
  private readonly seen = new Set<string>();

  constructor(private readonly capacity = REMEMBERED_NOTIFICATIONS) {}

  /** False for a `notify.event` whose notification was already emitted; every other frame passes. */
  accept(frame: EventFrame): boolean {
    if (frame.event !== "notify.event") return true;
    const id = (frame.data as { notification_id?: unknown } | null)?.notification_id;
    if (typeof id !== "string") return true;
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value!);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
