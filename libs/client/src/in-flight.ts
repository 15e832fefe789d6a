/**
 * The client's requests sent and not yet answered, by frame id: each with
 * its timer and the connection it went out on, so a reply, a timeout or a
 * dropped connection settles it exactly once.
 */
import { ColmenaError } from "@colmena/protocol";
import type { OutgoingFrame } from "./codec.ts";
import type { Transport } from "./transport.ts";

export interface InFlightRequest {
  resolve: (data: unknown) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  op: string;
  data: unknown;
  transport: Transport;
}

export class InFlight {
  private readonly pending = new Map<number, InFlightRequest>();
  private nextId = 1;

  /** Sends `op` on `t`; settles with the reply's data, its error, or `timeout` after `timeoutMs`. */
  send(t: Transport, op: string, data: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ColmenaError("timeout", `no reply to ${op} in ${timeoutMs} ms`));
      }, Math.max(0, timeoutMs));
      this.pending.set(id, { resolve, reject, timer, op, data, transport: t });
      const frame: OutgoingFrame = data === undefined ? { id, op } : { id, op, data };
      t.send(frame);
    });
  }

  /** The request a reply answers, taken out of the table with its timer stopped; undefined when none waits (late, or not ours). */
  take(id: number): InFlightRequest | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    clearTimeout(p.timer);
    return p;
  }

  /** Whether a request sent on `t` still waits for its reply. */
  waitsOn(t: Transport): boolean {
    for (const p of this.pending.values()) if (p.transport === t) return true;
    return false;
  }

  /** Rejects the requests in flight (on one connection, or on every one) with `err`. */
  fail(err: ColmenaError, on?: Transport): void {
    for (const [id, p] of this.pending) {
      if (on && p.transport !== on) continue;
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
