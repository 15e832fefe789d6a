/**
 * Channels (design.md section 3): one NATS subscription to
 * `colmena.push.<channel>` per channel per gateway, however many connections
 * share it, dropped when the last one leaves. A push becomes an event frame
 * on every member connection except the one named by `Colmena-Exclude-Conn`.
 */
import type { NatsConnection, Subscription, Msg } from "@nats-io/transport-node";
import { Headers, isToken, pushSubject } from "@colmena/protocol";
import { counter, type Logger } from "@colmena/runtime";
import type { Conn } from "./connection.ts";

/** A connection may hold this many channels; more is a misbehaving service or client. */
export const MAX_CHANNELS_PER_CONN = 1024;

const pushes = counter("colmena_gateway_pushes_total", "push messages received from NATS, by outcome", ["outcome"]);

/** A channel name is dot-separated subject tokens, e.g. `room.lobby`, `user.<id>`. */
export function isChannel(ch: unknown): ch is string {
  return typeof ch === "string" && ch.length <= 512 && ch.split(".").every(isToken);
}

interface Channel {
  sub: Subscription;
  conns: Set<Conn>;
}

export class ChannelHub {
  private readonly channels = new Map<string, Channel>();

  constructor(private readonly nc: NatsConnection, private readonly log: Logger) {}

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
      const sub = this.nc.subscribe(pushSubject(ch), { callback: (err, msg) => (err ? this.log.warn({ err, channel: ch }, "push subscription failed") : this.deliver(members, msg)) });
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
    for (const c of this.channels.values()) c.sub.unsubscribe();
    this.channels.clear();
  }

  private deliver(members: Set<Conn>, msg: Msg): void {
    try {
      // One pass over the headers (exact names, as MsgHdrs.get would match them).
      let event = "";
      let exclude = "";
      const h = msg.headers;
      if (h)
        for (const [k, vs] of h) {
          if (k === Headers.event) event = vs[0] ?? "";
          else if (k === Headers.excludeConn) exclude = vs[0] ?? "";
        }
      if (!event) {
        pushes.inc({ outcome: "no_event" });
        return;
      }
      const raw = msg.data.length ? msg.string() : "null";
      // The JSON frame, spliced once for every member (a raw newline would break a TCP line: those are re-encoded).
      const json = raw.includes("\n") ? undefined : `{"event":${JSON.stringify(event)},"data":${raw}}`;
      let parsed: { v: unknown } | undefined;
      const parse = () => (parsed ??= { v: JSON.parse(raw) }).v;
      // No copy: a send may close a slow connection, which leaves the set, and a Set iterates safely past deletions.
      for (const conn of members) {
        if (conn.id === exclude) continue;
        conn.sendEvent(event, json, parse);
      }
      pushes.inc({ outcome: "ok" });
    } catch (err) {
      pushes.inc({ outcome: "error" });
      this.log.warn({ err, subject: msg.subject }, "could not deliver a push");
    }
  }
}
