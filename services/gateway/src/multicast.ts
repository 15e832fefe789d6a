/**
 * The gateway's end of a multicast push (libs/protocol multicast.ts): one
 * subscription to `colmena.push.multicast` per gateway, whatever its
 * connections; each message names many channels and carries one event, which
 * goes to this gateway's members of those channels (the channel hub's sets),
 * once per connection. A channel this gateway holds no member of costs a map
 * lookup. The gateway learns nothing of who sends it or why.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { MULTICAST_SUBJECT, decodeMulticast } from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import type { Conn } from "./connection.ts";
import type { PushBacklog } from "./push-backlog.ts";
import { deliverTo, pushOf, pushes } from "./push-delivery.ts";

const decoder = new TextDecoder();

export function receiveMulticast(nc: NatsConnection, membersOf: (ch: string) => Set<Conn> | undefined, backlog: PushBacklog, log: Logger): Subscription {
  const deliver = (msg: Msg) => {
    try {
      const m = decodeMulticast(msg.data);
      if (!m) return void pushes.inc({ outcome: "bad_multicast" });
      const push = pushOf(msg, decoder.decode(m.data));
      if (!push) return;
      const seen = new Set<Conn>();
      for (const ch of m.channels) {
        const members = membersOf(ch);
        if (members) deliverTo(members, push, seen);
      }
      pushes.inc({ outcome: "ok" });
    } catch (err) {
      pushes.inc({ outcome: "error" });
      log.warn({ err }, "could not deliver a multicast push");
    }
  };
  return nc.subscribe(MULTICAST_SUBJECT, { callback: (err, msg) => (err ? log.warn({ err }, "multicast subscription failed") : backlog.submit(msg.data.length, () => deliver(msg))) });
}
