/**
 * The gateway's notice after its own NATS reconnect (`session.resync`).
 *
 * Pushes are core NATS, at most once: while this gateway reconnects (its
 * NATS node died, a network cut), what services publish to
 * `colmena.push.<channel>` reaches no subscription of it, and its clients,
 * whose own connections never dropped, would not know they missed
 * anything. So once the connection is back and the server holds this
 * gateway's subscriptions again (the client library sends them again on
 * reconnect; a flush returns after the server has read them), every
 * connection that holds channels is told, and resumes what it follows from
 * where it was, as it does after a reconnect of its own (the SDK joins its
 * rooms again with `since_seq`). Which channels and what resuming means is
 * the client's and the services' business: the gateway names neither.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { sessionResync } from "@colmena/protocol";
import { counter, type Logger } from "@colmena/runtime";
import type { Conn } from "./connection.ts";

const told = counter("colmena_gateway_resync_notices_total", "connections told to resync after the gateway's NATS reconnect");

export interface ResyncNotice {
  stop(): void;
}

/** Tells every connection of `conns` that holds channels to resync, after each NATS reconnect. */
export function noticeResyncAfterReconnect(nc: NatsConnection, conns: ReadonlySet<Conn>, log: Logger): ResyncNotice {
  let stopped = false;
  const statuses = nc.status();
  void (async () => {
    for await (const s of statuses) {
      if (stopped) return;
      if (s.type !== "reconnect") continue;
      // The subscriptions were sent again on reconnect; once this returns the server has them, so nothing pushed later is lost.
      const flushed = await nc.flush().then(() => true, () => false);
      if (stopped || !flushed) continue;
      let n = 0;
      for (const conn of conns) {
        if (conn.closed || conn.channels.size === 0) continue;
        conn.send({ event: sessionResync.event, data: { reason: "nats_reconnect" } });
        n++;
      }
      told.inc(n);
      log.info({ connections: n }, "NATS connection back: connections with channels told to resync");
    }
  })().catch(() => undefined);
  return {
    stop() {
      stopped = true;
      // A QueuedIterator: stopping it ends the loop on a NATS connection that outlives the gateway.
      (statuses as { stop?: () => void }).stop?.();
    },
  };
}
