import { headers, type NatsConnection } from "@nats-io/transport-node";
import { Headers, MULTICAST_SUBJECT, badRequest, encodeMulticast, isChannel, pushSubject, userChannel, type CheckedEventName, type EventDataOf } from "@colmena/protocol";

/** Where a push goes: channels by name, and users (each one's `user.<id>` channel). */
export interface PushTarget {
  users?: readonly string[];
  channels?: readonly string[];
}

export interface PushOptions {
  /** A connection that must not get it (the sender of a chat message). */
  excludeConn?: string;
  // Issue 10 adds here the stream sequence of the event behind a push (a header
  // the gateway copies into the event frame), so the SDK can drop repeats.
}

const encoder = new TextEncoder();

/** Room left in a multicast message for its headers and the protocol line. */
const HEADROOM_BYTES = 1024;

/**
 * Pushes an event to every connection subscribed to the target's channels on
 * every gateway (design.md section 3): core NATS, at most once; durable
 * delivery is the job of the stream behind it. The data and headers are
 * encoded once, whatever the number of channels. One channel is one publish
 * on its subject (only the gateways holding a member get it); several are a
 * multicast (libs/protocol multicast.ts): one message per
 * `MULTICAST_MAX_CHANNELS` channels on `colmena.push.multicast`, which every
 * gateway receives and delivers to its own members of those channels, once
 * per connection however many of the channels it is in.
 *
 * A registered event (libs/protocol EVENTS) takes exactly its schema's data,
 * and a misspelt name in a registered family (`task.dnoe`) does not compile;
 * names outside every family (diag's client-chosen ones) take any data.
 * `to` may be one channel name.
 */
export function publishEvent<E extends string>(
  nc: NatsConnection,
  to: string | PushTarget,
  event: CheckedEventName<E>,
  data: EventDataOf<E>,
  opts: PushOptions = {},
): void {
  const h = headers();
  h.set(Headers.event, event);
  if (opts.excludeConn) h.set(Headers.excludeConn, opts.excludeConn);
  // Every channel is built (and its tokens checked) before the first publish: a bad id publishes nothing.
  const channels = typeof to === "string" ? [to] : [...(to.users ?? []).map(userChannel), ...(to.channels ?? [])];
  for (const ch of channels) if (!isChannel(ch)) throw badRequest(`'${ch}' is not a channel name`);
  const payload = encoder.encode(JSON.stringify(data));
  if (channels.length === 1) return nc.publish(pushSubject(channels[0]), payload, { headers: h });
  const maxBytes = (nc.info?.max_payload ?? 1024 * 1024) - HEADROOM_BYTES;
  for (const m of encodeMulticast(channels, payload, maxBytes)) nc.publish(MULTICAST_SUBJECT, m, { headers: h });
}
