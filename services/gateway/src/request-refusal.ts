/**
 * A request that fails before it reaches its service because of what it
 * carries, not because the service is away: `bad_request`, never
 * `unavailable` (which tells a client to retry the same thing later).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, type OpDef } from "@colmena/protocol";
import { isOverMaxPayload, maxPayloadOf } from "@colmena/runtime";

/** The client's error for a request that could not be sent, or undefined when the cause is elsewhere. */
export function requestRefusal(err: unknown, def: OpDef, nc: NatsConnection): ColmenaError | undefined {
  // A frame under the frame limit can still grow past NATS's max_payload once re-encoded for the
  // service with the gateway's headers (JSON frames stay JSON, MessagePack ones MessagePack).
  if (isOverMaxPayload(err))
    return new ColmenaError("bad_request", `${def.op}: data is too large once encoded for the service (a NATS message carries at most ${maxPayloadOf(nc)} bytes with its headers)`);
  // JSON.stringify overflowing the stack or the longest string: the data, not the service.
  if (err instanceof RangeError) return new ColmenaError("bad_request", `${def.op}: data cannot be encoded for the service (${err.message})`);
  return undefined;
}
