/**
 * A gateway's drain (protocol.md section 2): on shutdown every connection is
 * told `session.closing`, new requests are refused with `unavailable` (never
 * forwarded, so safe to send again: the refusal says so), requests in flight
 * finish and are answered, and only then are connections closed. Bounded by
 * `COLMENA_DRAIN_MS`. Clients move meanwhile: the drain ends early once
 * every connection has gone, or once nothing is in flight, clients had the
 * spread of `reconnect_after_ms` to leave, and every connection left has been
 * quiet for QUIET_MS. Why quiet: a client may send a request before it reads
 * `session.closing` (the reply before it let its loop go on); a socket closed
 * under that frame loses it, and the client cannot tell whether it ran (seen
 * in the compose smoke under load: a `files.put` failed "connection lost").
 * The SDK closes its old connection itself once it has moved, so a busy
 * client holds the drain only until then.
 */
import { ColmenaError, sessionClosing as closing } from "@colmena/protocol";
import { counter, gauge, type Logger } from "@colmena/runtime";
import type { Conn } from "./connection.ts";

/** The spread of `reconnect_after_ms`: clients of one gateway reach the others over this window, not at once. */
const RECONNECT_SPREAD_MS = 250;
/** A connection that sent nothing for this long may be closed by the gateway (see above). */
const QUIET_MS = 2_000;
/** The `details` of a drain refusal: the SDK sends such a request again, whatever the op. */
export const NOT_RUN = { not_run: true } as const;

const inflightGauge = gauge("colmena_gateway_requests_in_flight", "requests received and not yet answered");
const refused = counter("colmena_gateway_drain_refused_total", "requests refused with `unavailable` because the gateway was draining");

export class Drain {
  private inflight = 0;
  private started: number | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly log: Logger) {}

  get draining(): boolean {
    return this.started !== undefined;
  }

  /** Counts a request from its frame to its reply. */
  enter(): void {
    this.inflight++;
    inflightGauge.inc();
  }

  leave(): void {
    this.inflight--;
    inflightGauge.dec();
    this.wake?.();
  }

  /** The refusal of a request that arrives while draining, or undefined. */
  refusal(): ColmenaError | undefined {
    if (!this.draining) return undefined;
    refused.inc();
    return new ColmenaError("unavailable", "this gateway is shutting down; send it again on another gateway", { details: NOT_RUN, retryAfterMs: 0 });
  }

  /** Tells one connection the gateway is closing (also a connection opened during the drain). */
  tell(conn: Conn, reason: string): void {
    conn.send({ event: closing.event, data: { reason, reconnect_after_ms: Math.floor(Math.random() * RECONNECT_SPREAD_MS) } });
  }

  /**
   * Starts draining: every connection is told, and this resolves when what is
   * in flight is answered and the clients had their window to move (or all
   * left), or after `drainMs`.
   */
  async run(conns: Set<Conn>, reason: string, drainMs: number): Promise<void> {
    if (this.started !== undefined) return;
    const started = (this.started = Date.now());
    for (const conn of conns) this.tell(conn, reason);
    this.log.info({ connections: conns.size, inflight: this.inflight, drainMs }, "draining: every connection told to move");
    const quiet = () => { const now = Date.now(); for (const c of conns) if (now - c.lastActive < QUIET_MS) return false; return true; };
    const done = () => conns.size === 0 || (this.inflight === 0 && Date.now() - started >= RECONNECT_SPREAD_MS * 2 && quiet());
    while (!done()) {
      const left = started + drainMs - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    this.log.info({ connections: conns.size, inflight: this.inflight, ms: Date.now() - started }, "drained");
  }
}
