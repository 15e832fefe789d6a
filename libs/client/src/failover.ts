/**
 * Moving between gateways: the list of gateway URLs a client may use (any
 * one will do; they share nothing but NATS), and which failed requests are
 * safe to send again on the next connection.
 */
import { ColmenaError, findOp, sessionClosing, sessionResync } from "@colmena/protocol";

/** The gateway URLs, tried in turn: a reconnect goes to the next one, so a closing gateway is left first. */
export class GatewayList {
  readonly urls: readonly URL[];
  private index = 0;

  constructor(url: string | readonly string[]) {
    const list = typeof url === "string" ? [url] : url;
    if (list.length === 0) throw new Error("no gateway URL given");
    this.urls = list.map((u) => new URL(u));
    const schemes = new Set(this.urls.map((u) => u.protocol.startsWith("ws")));
    if (schemes.size > 1) throw new Error("gateway URLs must all be WebSocket or all TCP/TLS (the codec is chosen once)");
  }

  get current(): URL {
    return this.urls[this.index];
  }

  /** Moves to the next URL (the same one when there is only one) and returns it. */
  next(): URL {
    this.index = (this.index + 1) % this.urls.length;
    return this.current;
  }
}

/**
 * Whether a request that failed may be sent again: the gateway refused it
 * without running it (a draining gateway marks such refusals `not_run`), or
 * its op is declared idempotent and the connection was lost (or the service
 * went away) before the answer.
 */
export function maySendAgain(op: string, err: unknown): boolean {
  if (!ColmenaError.is(err, "unavailable")) return false;
  const details = err.details as { not_run?: unknown } | undefined;
  if (details?.not_run === true) return true;
  return findOp(op)?.idempotent === true;
}

/** The event a gateway sends before it closes (protocol.md section 2). */
export const CLOSING_EVENT = sessionClosing.event;
/** The gateway's NATS link was cut and is back: what it pushes may have been missed meanwhile. */
export const RESYNC_EVENT = sessionResync.event;
