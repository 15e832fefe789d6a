import { headers, type NatsConnection } from "@nats-io/transport-node";
import { Headers, pushSubject } from "@colmena/protocol";

/**
 * Pushes an event to every connection subscribed to `channel` on every gateway
 * (design.md section 3): core NATS, at most once; durable delivery is the job
 * of the stream behind it.
 */
export function publishEvent(nc: NatsConnection, channel: string, event: string, data: unknown, opts: { excludeConn?: string } = {}): void {
  const h = headers();
  h.set(Headers.event, event);
  if (opts.excludeConn) h.set(Headers.excludeConn, opts.excludeConn);
  nc.publish(pushSubject(channel), JSON.stringify(data), { headers: h });
}
