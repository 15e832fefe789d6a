import { ClosedConnectionError, ConnectionError, NoRespondersError, RequestError, TimeoutError } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";
import { JetStreamUnanswered } from "./js-publisher.ts";

/**
 * Whether a handler failed because NATS or JetStream did not answer for a
 * while (a timeout, no responders, a dropped connection, a stream between
 * leaders: 503; a JetStream publish, such as a KV put, to a stream between
 * leaders, which nats.js reports as `JetStreamNotEnabled` caused by no
 * responders): the service cannot do it now, which is `unavailable`, not a
 * bug. A client tries `unavailable` again where it may (the SDK's room
 * rejoin after a NATS node's death does); as `internal` it gave up.
 */
export function natsOutage(e: unknown): boolean {
  // nats.js wraps what failed (a publish nobody answered becomes JetStreamNotEnabled, caused by a RequestError): look down the causes.
  for (let c = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    if (c instanceof TimeoutError || c instanceof NoRespondersError || c instanceof ClosedConnectionError || c instanceof ConnectionError) return true;
    if (c instanceof RequestError || c instanceof JetStreamUnanswered) return true;
    if (c instanceof JetStreamApiError && c.status === 503) return true;
  }
  return false;
}
