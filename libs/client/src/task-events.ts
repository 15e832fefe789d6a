/**
 * Drops repeated task events (protocol.md section 5, `task.*` events): each
 * carries `seq`, the stream sequence of the task event behind it. A worker
 * that dies between recording an outcome and acking is followed by another
 * that announces the outcome again with the same `seq`; a task's events only
 * move forward, so one at or below the highest `seq` seen for its task is a
 * repeat (or a stale progress that arrived late) and is dropped.
 */
import type { EventFrame } from "@colmena/protocol";

/** Tasks remembered; past it the oldest are forgotten (a repeat comes within the service's ack_wait). */
const REMEMBERED = 10_000;

export class TaskEventFilter {
  private readonly lastSeq = new Map<string, number>();

  /** False for a repeat of a task event already passed on. */
  accept(frame: EventFrame): boolean {
    if (!frame.event.startsWith("task.")) return true;
    const d = frame.data as { task_id?: unknown; seq?: unknown } | null;
    if (typeof d?.task_id !== "string" || typeof d.seq !== "number") return true;
    const seen = this.lastSeq.get(d.task_id);
    if (seen !== undefined && d.seq <= seen) return false;
    // Re-inserted, so the map's order is least recently seen first.
    this.lastSeq.delete(d.task_id);
    this.lastSeq.set(d.task_id, d.seq);
    if (this.lastSeq.size > REMEMBERED) this.lastSeq.delete(this.lastSeq.keys().next().value!);
    return true;
  }
}
