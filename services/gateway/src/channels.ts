/**
 * Channels (design.md section 3): one NATS subscription to
 * `colmena.push.<channel>` per channel per gateway, however many connections
 * share it, dropped when the last one leaves. A push becomes an event frame
 * on every member connection except the one named by `Colmena-Exclude-Conn`.
 * A push to many channels comes once per gateway instead (multicast.ts), and
 * reaches the same member sets.
 */
import type { NatsConnection, Subscription, Msg } from "@nats-io/transport-node";
import { isChannel, pushSubject } from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import type { Conn } from "./connection.ts";
import { receiveMulticast } from "./multicast.ts";
import { PushBacklog, type PushBacklogOptions } from "./push-backlog.ts";
import { deliverTo, pushOf, pushes } from "./push-delivery.ts";

/** A connection may hold this many channels; more is a misbehaving service or client. */
export const MAX_CHANNELS_PER_CONN = 1024;

interface Channel {
  sub: Subscription;
  conns: Set<Conn>;
}

export class ChannelHub {
  private readonly channels = new Map<string, Channel>();
  private readonly multicast: Subscription;
  /** Every push of this gateway goes through it (push-backlog.ts). */
  readonly backlog: PushBacklog;

  constructor(private readonly nc: NatsConnection, private readonly log: Logger, backlog: Omit<PushBacklogOptions, "onDrop">) {
    this.backlog = new PushBacklog({ ...backlog, onDrop: (n) => dropped(log, n) });
    this.multicast = receiveMulticast(nc, (ch) => this.channels.get(ch)?.conns, this.backlog, log);
  }

  /** How many NATS subscriptions this gateway holds for channels. */
  get size(): number {
    return this.channels.size;
  }

  members(ch: string): number {
    return this.channels.get(ch)?.conns.size ?? 0;
  }

  /**
   * Adds a connection to a channel. When that opens a new NATS subscription,
   * `ready` resolves once the server has it, so a reply sent after it
   * guarantees that later pushes arrive.
   */
  join(conn: Conn, ch: string): { joined: boolean; ready?: Promise<void> } {
    if (conn.closed || !isChannel(ch)) return { joined: false };
    if (conn.channels.has(ch)) return { joined: true };
    if (conn.channels.size >= MAX_CHANNELS_PER_CONN) {
      conn.log.warn({ conn: conn.id, channel: ch }, "too many channels; not subscribing");
      return { joined: false };
    }
    let ready: Promise<void> | undefined;
    let c = this.channels.get(ch);
    if (!c) {
      const members = new Set<Conn>();
      const sub = this.nc.subscribe(pushSubject(ch), { callback: (err, msg) => (err ? this.log.warn({ err, channel: ch }, "push subscription failed") : this.backlog.submit(msg.data.length, () => this.deliver(members, msg))) });
      c = { sub, conns: members };
      this.channels.set(ch, c);
      ready = this.nc.flush().catch(() => undefined);
    }
    c.conns.add(conn);
    conn.channels.add(ch);
    return { joined: true, ready };
  }

  leave(conn: Conn, ch: string): void {
    conn.channels.delete(ch);
    const c = this.channels.get(ch);
    if (!c || !c.conns.delete(conn)) return;
    if (c.conns.size === 0) {
      this.channels.delete(ch);
      c.sub.unsubscribe();
    }
  }

  leaveAll(conn: Conn): void {
    for (const ch of [...conn.channels]) this.leave(conn, ch);
  }

  close(): void {
    this.multicast.unsubscribe();
    for (const c of this.channels.values()) c.sub.unsubscribe();
    this.channels.clear();
  }

  private deliver(members: Set<Conn>, msg: Msg): void {
    try {
      const push = pushOf(msg, msg.data.length ? msg.string() : "");
      if (!push) return;
      deliverTo(members, push);
      pushes.inc({ outcome: "ok" });
    } catch (err) {
      pushes.inc({ outcome: "error" });
      this.log.warn({ err, subject: msg.subject }, "could not deliver a push");
    }
  }
}

let lastDropWarning = 0;

/** Counts pushes the backlog dropped, with a warning at most every 10 s. */
function dropped(log: Logger, n: number): void {
  pushes.inc({ outcome: "dropped_backlog" }, n);
  if (Date.now() - lastDropWarning < 10_000) return;
  lastDropWarning = Date.now();
  log.warn({ dropped: n }, "pushes arrive faster than this gateway writes them: the oldest waiting were dropped");
}
