/**
 * The connection lifecycle on NATS (libs/protocol lifecycle.ts): this gateway
 * announces each authenticated connection when it opens and when it closes,
 * and sends a heartbeat every interval, so a service (chat presence) can
 * follow who is connected, and tell when a gateway died, with no code of its
 * own here. Core NATS, at most once: after the gateway's NATS connection comes
 * back, every open session is announced again, since a listener may have
 * presumed this gateway dead meanwhile.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  connLifecycleSubject,
  gatewayHeartbeatSubject,
  type ConnClosed,
  type ConnOpened,
  type GatewayHeartbeat,
} from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import type { Conn } from "./connection.ts";

type CloseReason = ConnClosed["reason"];

export interface AnnouncerOptions {
  nc: NatsConnection;
  gatewayId: string;
  intervalMs: number;
  /** Open client connections, authenticated or not (for the heartbeat). */
  connections(): number;
  log: Logger;
}

/** Who a connection was announced as: a close names the user the open named. */
interface Announced {
  userId: string;
  username: string;
}

export class ConnAnnouncer {
  private seq = 0;
  private readonly startedAt = Date.now();
  private readonly announced = new Map<Conn, Announced>();
  private timer: NodeJS.Timeout | undefined;
  private statuses: AsyncIterable<unknown> | undefined;
  private stopped = false;

  constructor(private readonly opts: AnnouncerOptions) {}

  /** Sends the first heartbeat now, then one per interval; re-announces the sessions after a NATS reconnect. */
  start(): void {
    this.heartbeat();
    this.timer = setInterval(() => this.heartbeat(), this.opts.intervalMs);
    this.timer.unref();
    const statuses = this.opts.nc.status();
    this.statuses = statuses;
    void (async () => {
      for await (const s of statuses) {
        if (this.stopped) return;
        if (s.type === "reconnect") this.reannounce();
      }
    })().catch(() => undefined);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    // nats.js hands out a QueuedIterator: stopping it ends the loop above on a NATS connection that outlives the gateway.
    (this.statuses as { stop?: () => void } | undefined)?.stop?.();
  }

  /** Whether the connection is announced as open under this user id. */
  isOpen(conn: Conn, userId: string): boolean {
    return this.announced.get(conn)?.userId === userId;
  }

  opened(conn: Conn, user: Announced): void {
    this.announced.set(conn, user);
    this.publishOpened(conn, user);
  }

  /** Announces the close of a connection announced as open; nothing for one that never was. */
  closed(conn: Conn, reason: CloseReason): void {
    const user = this.announced.get(conn);
    if (!user) return;
    this.announced.delete(conn);
    const msg: ConnClosed = { ...this.base(), conn_id: conn.id, user_id: user.userId, username: user.username, reason };
    this.publish(connLifecycleSubject("closed", this.opts.gatewayId), msg);
  }

  private publishOpened(conn: Conn, user: Announced): void {
    const msg: ConnOpened = { ...this.base(), conn_id: conn.id, user_id: user.userId, username: user.username };
    this.publish(connLifecycleSubject("opened", this.opts.gatewayId), msg);
  }

  private reannounce(): void {
    for (const [conn, user] of this.announced) this.publishOpened(conn, user);
    this.heartbeat();
  }

  private heartbeat(): void {
    const hb: GatewayHeartbeat = {
      gateway_id: this.opts.gatewayId,
      ts: Date.now(),
      interval_ms: this.opts.intervalMs,
      started_at: this.startedAt,
      connections: this.opts.connections(),
      sessions: this.announced.size,
      seq: this.seq,
    };
    this.publish(gatewayHeartbeatSubject(this.opts.gatewayId), hb);
  }

  private base() {
    return { gateway_id: this.opts.gatewayId, seq: ++this.seq, ts: Date.now() };
  }

  private publish(subject: string, msg: object): void {
    try {
      this.opts.nc.publish(subject, JSON.stringify(msg));
    } catch (err) {
      // A closed NATS connection (the gateway is stopping): the announcement is lost, as core NATS may lose it anyway.
      this.opts.log.debug({ err, subject }, "could not announce");
    }
  }
}
