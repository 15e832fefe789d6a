/**
 * The frame timeout (issue 14, item 4): a frame begun but not finished
 * within `timeoutMs` closes its connection with a `timeout` error. A client
 * trickling a frame a byte at a time otherwise holds up to a frame's worth of
 * memory until the idle timeout (minutes), and every byte resets idleness.
 */
import { ColmenaError, errorReply } from "@colmena/protocol";
import { counter } from "@colmena/runtime";
import type { Conn } from "./connection.ts";

const closedSlow = counter("colmena_gateway_slow_frames_total", "connections closed because a frame did not arrive in time");

/** When the unfinished frame of a connection began (performance.now), or undefined when none is under way. */
export type PartialSince = () => number | undefined;

/** One sweep per listener over its connections; a connection registers how to tell its partial frame's age. */
export class SlowFrames {
  private readonly watched = new Map<Conn, PartialSince>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly timeoutMs: number) {
    this.timer = setInterval(() => this.sweep(), Math.max(50, Math.min(Math.floor(timeoutMs / 4), 5_000)));
    this.timer.unref();
  }

  watch(conn: Conn, since: PartialSince): void {
    this.watched.set(conn, since);
    conn.onClose(() => this.watched.delete(conn));
  }

  private sweep(): void {
    const now = performance.now();
    for (const [conn, since] of this.watched) {
      const t = since();
      if (t === undefined || now - t <= this.timeoutMs) continue;
      closedSlow.inc();
      const err = new ColmenaError("timeout", `a frame must arrive within ${this.timeoutMs} ms of its first byte; closing the connection`);
      conn.reply(errorReply(null, err.toBody()), conn.encoding);
      conn.close("frame timeout", true);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
