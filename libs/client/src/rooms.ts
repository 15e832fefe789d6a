/**
 * The chat rooms a client joined, so that no message is missed or seen
 * twice across reconnects (protocol.md section 6): the highest `seq` seen
 * per room; a `chat.message` at or below it is a repeat and dropped. After
 * a reconnect every joined room is joined again with `since_seq`, and what
 * was missed is emitted as `chat.message` events in order (paging back with
 * `chat.history` when more than a page was missed).
 */
import type { EventFrame } from "@colmena/protocol";

interface Joined { lastSeq: number; epoch: string }
interface Msg { room: string; seq: number }
type Send = (op: string, data: Record<string, unknown>) => Promise<unknown>;

export class RoomTracker {
  private readonly rooms = new Map<string, Joined>();
  /** Rooms `rejoin` is joining again: it settles their position itself, after emitting what was missed. */
  private readonly resuming = new Set<string>();

  /** A successful reply: a join starts (or resets) tracking, a leave ends it. */
  observe(op: string, data: unknown, reply: unknown): void {
    const d = (data ?? {}) as { room?: string };
    if (op === "chat.leave" && d.room) this.rooms.delete(d.room);
    if (op !== "chat.join" || !d.room || this.resuming.has(d.room)) return;
    const r = reply as { last_seq: number; epoch: string; missed?: Msg[] };
    const seen = Math.max(r.last_seq, ...(r.missed ?? []).map((m) => m.seq));
    const had = this.rooms.get(d.room);
    this.rooms.set(d.room, { lastSeq: had && had.epoch === r.epoch ? Math.max(had.lastSeq, seen) : seen, epoch: r.epoch });
  }

  /** False for a repeated message (seq already seen in its room). */
  accept(frame: EventFrame): boolean {
    if (frame.event !== "chat.message") return true;
    const m = frame.data as Msg;
    const j = this.rooms.get(m.room);
    if (!j) return true;
    if (m.seq <= j.lastSeq) return false;
    j.lastSeq = m.seq;
    return true;
  }

  /** Joins every tracked room again from its last seen seq; emits the missed messages, oldest first. */
  async rejoin(send: Send, emit: (frame: EventFrame) => void): Promise<void> {
    for (const [room, j] of [...this.rooms]) {
      const since = j.lastSeq;
      this.resuming.add(room);
      let r: { epoch: string; last_seq: number; missed?: Msg[]; has_more?: boolean };
      try {
        r = (await send("chat.join", { room, since_seq: since })) as typeof r;
      } finally {
        this.resuming.delete(room);
      }
      if (r.epoch !== j.epoch) {
        // The history was reset: the old seqs mean nothing; start over from now.
        this.rooms.set(room, { lastSeq: r.last_seq, epoch: r.epoch });
        continue;
      }
      const missed = r.missed ?? [];
      const older: Msg[] = [];
      // More than a page missed: fetch the gap between `since` and the page, oldest first.
      let after = since;
      const upTo = missed[0]?.seq ?? Infinity;
      while (r.has_more) {
        const h = (await send("chat.history", { room, after_seq: after, before_seq: upTo, limit: 200 })) as { messages: Msg[]; has_more: boolean };
        older.push(...h.messages);
        if (!h.has_more || h.messages.length === 0) break;
        after = h.messages[h.messages.length - 1].seq;
      }
      for (const m of [...older, ...missed]) {
        const frame = { event: "chat.message", data: m } as EventFrame;
        if (this.accept(frame)) emit(frame);
      }
    }
  }
}
