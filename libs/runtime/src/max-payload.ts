/**
 * NATS refuses a message whose payload plus headers exceed the server's
 * `max_payload` (1 MiB unless configured): nats.js throws at `publish`, so a
 * reply or a request built from client input must be checked, or the throw
 * travels where nobody expects it (issue 14: it ended a process).
 */
import { InvalidArgumentError, type NatsConnection } from "@nats-io/transport-node";

/** The NATS server's default `max_payload`, when the connection has not said. */
export const DEFAULT_MAX_PAYLOAD = 1 << 20;

/** The largest message (payload plus headers) this connection's server takes. */
export function maxPayloadOf(nc: NatsConnection): number {
  return nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
}

/** Whether a publish (or respond, or request) failed because its message is over `max_payload`. */
export function isOverMaxPayload(err: unknown): boolean {
  return err instanceof InvalidArgumentError && err.message.includes("max_payload");
}
