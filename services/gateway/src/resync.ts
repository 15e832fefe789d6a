/**
 * The gateway's notice when its own NATS connection drops (`session.resync`).
 *
 * Pushes are core NATS, at most once: while this gateway reconnects (its
 * NATS node died, a network cut), what services publish to
 * `colmena.push.<channel>` reaches no subscription of it, and its clients,
 * whose own connections never dropped, would not know they missed
 * anything. So every connection that holds channels is told at once, when
 * the drop is seen: nothing pushed after the gap can have reached it yet,
 * so "where I am now" is a position from before the gap. The client resumes
 * from there as it does after a reconnect of its own (the SDK joins its
 * rooms again with `since_seq`, holding the live events of each room until
 * the join is answered); its requests wait for the reconnect or fail as
 * `unavailable`/`timeout` meanwhile, and the SDK tries them again. Told
 * after the reconnect instead, a client could already have seen pushes from
 * after the gap and resume past it. Which channels and what resuming means
 * is the client's and the services' business: the gateway names neither.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { sessionResync } from "@colmena/protocol";
import { counter, type Logger } from "@colmena/runtime";
import type { Conn } from "./connection.ts";

const told = counter("colmena_gateway_resync_notices_total", "connections told to resync because the gateway's NATS connection dropped");

export interface ResyncNotice {
  stop(): void;
}

/** Tells every connection of `conns` that holds channels to resync, each time the NATS connection drops. */
export function noticeResyncOnNatsDrop(nc: NatsConnection, conns: ReadonlySet<Conn>, log: Logger): ResyncNotice {
  let stopped = false;
  const statuses = nc.status();
  void (async () => {
    for await (const s of statuses) {
      if (stopped) return;
      if (s.type !== "disconnect") continue;
      let n = 0;
      for (const conn of conns) {
        if (conn.closed || conn.channels.size === 0) continue;
        conn.send({ event: sessionResync.event, data: { reason: "nats_disconnect" } });
        n++;
      }
      told.inc(n);
      log.warn({ connections: n }, "NATS connection lost: connections with channels told to resync");
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
