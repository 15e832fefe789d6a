import { headers, type NatsConnection } from "@nats-io/transport-node";
import { Headers, pushSubject, userChannel, type CheckedEventName, type EventDataOf } from "@colmena/protocol";

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

/**
 * Pushes an event to every connection subscribed to the target's channels on
 * every gateway (design.md section 3): core NATS, at most once; durable
 * delivery is the job of the stream behind it. The data and headers are
 * encoded once, whatever the number of channels; each channel is one publish.
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
  // Every subject is built (and its tokens checked) before the first publish: a bad id publishes nothing.
  const subjects = typeof to === "string" ? [pushSubject(to)] : [...(to.users ?? []).map((u) => pushSubject(userChannel(u))), ...(to.channels ?? []).map(pushSubject)];
  const payload = encoder.encode(JSON.stringify(data));
  for (const subject of subjects) nc.publish(subject, payload, { headers: h });
}
