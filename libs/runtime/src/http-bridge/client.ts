/**
 * The gateway side of the HTTP bridge: `bridge.call({subject, start, req, res, headers})`
 * streams one admitted request to one replica of the route's service and its
 * answer back (gateway-call.ts). One wildcard subscription serves every call
 * of this gateway (inboxes.ts).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { GatewayCall, type BridgeRequest } from "./gateway-call.ts";
import { CallInboxes } from "./inboxes.ts";
import { DEFAULT_LIVENESS, type Liveness } from "./wire.ts";

export class HttpBridgeClient {
  private readonly inboxes: CallInboxes;

  constructor(private readonly nc: NatsConnection, private readonly log: Logger, private readonly liveness: Liveness = DEFAULT_LIVENESS) {
    this.inboxes = new CallInboxes(nc);
  }

  /** Bridges one request; resolves with the status answered, or 0 when the response was cut off. */
  call(r: BridgeRequest): Promise<number> {
    return new GatewayCall(this.nc, this.inboxes, r, this.liveness, this.log).run();
  }

  /** Calls in flight. */
  get inFlight(): number {
    return this.inboxes.size;
  }

  close(): void {
    this.inboxes.close();
  }
}
