/**
 * The chat rooms a client joined, so that no message is missed or seen
 * twice across reconnects (protocol.md section 6): the highest `seq` seen
 * per room; a `chat.message` at or below it is a repeat and dropped. After
 * a reconnect every joined room is joined again with `since_seq`, and what
 * was missed is emitted as `chat.message` events in order (paging back with
 * `chat.history` when more than a page was missed). The same is done when
 * the gateway says `session.resync` (its own NATS link dropped: pushes may
 * be lost while this connection stands). From the moment a rejoin is asked
 * for, the live messages of every room it covers are held until that room's
 * missed ones are emitted: a live one let through first would move the
 * room's position past the gap, and its join would ask from there. Rejoins
 * run one at a time, and a join refused for a passing reason (`unavailable`,
 * `timeout`: the gateway is still reconnecting, or chat or its stream is
 * failing over) is tried again while the connection that asked stands, for
 * up to RETRY_FOR_MS.
 */
import { ColmenaError, type EventFrame } from "@colmena/protocol";

interface Joined { lastSeq: number; epoch: string }
interface Msg { room: string; seq: number }
type Send = (op: string, data: Record<string, unknown>) => Promise<unknown>;
/** How long a rejoin refused for a passing reason is tried again (backing off up to 2 s): a NATS outage of a gateway. */
const RETRY_FOR_MS = 120_000;

export class RoomTracker {
  private readonly rooms = new Map<string, Joined>();
  /**
   * Rooms with a rejoin asked for and not yet done: the live messages that
   * arrive meanwhile, and how many rejoins still cover the room (a second
   * `session.resync` can come while the first rejoin runs).
   */
  private readonly resuming = new Map<string, { held: EventFrame[]; rejoins: number }>();

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

  /** False for a repeated message (seq already seen in its room), and for one held while its room is rejoined. */
  accept(frame: EventFrame): boolean {
    if (frame.event !== "chat.message") return true;
    const held = this.resuming.get((frame.data as Msg).room);
    if (held) { held.held.push(frame); return false; }
    return this.admit(frame.data as Msg);
  }

  /** Moves the room's position to `m`; false if it is a repeat. */
  private admit(m: Msg): boolean {
    const j = this.rooms.get(m.room);
    if (!j) return true;
    if (m.seq <= j.lastSeq) return false;
    j.lastSeq = m.seq;
    return true;
  }

  /** The rejoin under way, if any: the next one waits for it. */
  private rejoining: Promise<void> = Promise.resolve();

  /**
   * Joins every tracked room again from its last seen seq; emits the missed
   * messages, oldest first. `alive`: whether the connection it runs on still
   * stands (no retry on a dropped one: its reconnect rejoins anyway).
   */
  rejoin(send: Send, emit: (frame: EventFrame) => void, alive: () => boolean = () => true): Promise<void> {
    // Held from now, not from when this rejoin's turn comes: nothing from after the gap has arrived yet.
    const rooms = [...this.rooms.keys()];
    for (const room of rooms) {
      const r = this.resuming.get(room);
      if (r) r.rejoins++;
      else this.resuming.set(room, { held: [], rejoins: 1 });
    }
    const run = this.rejoining.then(() => this.rejoinAll(rooms, send, emit, alive));
    this.rejoining = run.catch(() => undefined);
    return run;
  }

  private async rejoinAll(rooms: string[], send: Send, emit: (frame: EventFrame) => void, alive: () => boolean): Promise<void> {
    let failure: unknown;
    for (const room of rooms) {
      let missed: Msg[] = [];
      try {
        const giveUp = Date.now() + RETRY_FOR_MS;
        for (let attempt = 0; ; attempt++) {
          const j = this.rooms.get(room);
          if (!j) break; // left meanwhile
          try {
            missed = await this.missedSince(send, room, j);
            break;
          } catch (err) {
            const passing = ColmenaError.is(err, "unavailable") || ColmenaError.is(err, "timeout");
            if (!passing || Date.now() >= giveUp || !alive()) { failure ??= err; break; }
            await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
          }
        }
      } finally {
        this.release(room, missed, emit);
      }
    }
    if (failure) throw failure;
  }

  /**
   * Emits what a rejoin of `room` found missing, and the held live messages
   * if no other rejoin covers the room; a queued one keeps holding them, as
   * its join asks from the position the missed ones leave.
   */
  private release(room: string, missed: Msg[], emit: (frame: EventFrame) => void): void {
    const r = this.resuming.get(room);
    const frames = missed.map((m) => ({ event: "chat.message", data: m }) as EventFrame);
    if (r && --r.rejoins === 0) {
      this.resuming.delete(room);
      frames.push(...r.held);
    }
    frames.sort((a, b) => (a.data as Msg).seq - (b.data as Msg).seq);
    for (const f of frames) if (this.admit(f.data as Msg)) emit(f);
  }

  /** Joins `room` again with `since_seq`; what was missed, oldest first (paging back when more than a page). */
  private async missedSince(send: Send, room: string, j: Joined): Promise<Msg[]> {
    const since = j.lastSeq;
    const r = (await send("chat.join", { room, since_seq: since })) as { epoch: string; last_seq: number; missed?: Msg[]; has_more?: boolean };
    if (r.epoch !== j.epoch) {
      // The history was reset: the old seqs mean nothing; start over from now.
      this.rooms.set(room, { lastSeq: r.last_seq, epoch: r.epoch });
      return [];
    }
    const missed = r.missed ?? [];
    const older: Msg[] = [];
    let after = since;
    const upTo = missed[0]?.seq ?? Number.MAX_SAFE_INTEGER;
    while (r.has_more) {
      const h = (await send("chat.history", { room, after_seq: after, before_seq: upTo, limit: 200 })) as { messages: Msg[]; has_more: boolean };
      older.push(...h.messages);
      if (!h.has_more || h.messages.length === 0) break;
      after = h.messages[h.messages.length - 1].seq;
    }
    // A message stored after the join read its page but pushed before the
    // gateway subscribed this connection reaches neither: once the join is
    // answered the subscription stands, so one look forward closes that gap.
    const newer: Msg[] = [];
    for (let from = missed.at(-1)?.seq ?? Math.max(since, r.last_seq); ;) {
      const h = (await send("chat.history", { room, after_seq: from, limit: 200 })) as { messages: Msg[]; has_more: boolean };
      newer.push(...h.messages);
      if (!h.has_more || h.messages.length === 0) break;
      from = h.messages[h.messages.length - 1].seq;
    }
    return [...older, ...missed, ...newer];
  }
}
