/**
 * Credit-based flow control of the HTTP bridge, one direction of one call:
 * the sender never has more than `window` unacknowledged bytes in flight,
 * and the receiver acknowledges what its consumer took, so memory on both
 * sides stays bounded whatever the size of the body.
 */

/** The sending side: `take(n)` waits until n more bytes fit in the window. */
export class SendCredit {
  private sent = 0;
  private acked = 0;
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(private readonly window: number) {}

  /** Resolves once `n` more bytes fit in the window (a chunk larger than it, once nothing is in flight); false if the call ended meanwhile. */
  async ready(n: number): Promise<boolean> {
    while (!this.closed && this.sent - this.acked + n > this.window && this.sent > this.acked) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return !this.closed;
  }

  /** `ready(n)`, then counts the n bytes sent. */
  async take(n: number): Promise<boolean> {
    if (!(await this.ready(n))) return false;
    this.sent += n;
    return true;
  }

  /** The receiver has consumed `bytes` in all. */
  ack(bytes: number): void {
    if (bytes <= this.acked) return;
    this.acked = Math.min(bytes, this.sent);
    this.release();
  }

  /** Bytes sent and not yet acknowledged. */
  get inFlight(): number {
    return this.sent - this.acked;
  }

  close(): void {
    this.closed = true;
    this.release();
  }

  private release(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/**
 * The receiving side: counts consumed bytes and says when to ACK: after a
 * quarter of the window, or whenever the consumer has taken everything that
 * arrived (so a sender waiting on the last bytes of its window never stalls).
 */
export class ReceiveCredit {
  private consumed = 0;
  private acked = 0;

  constructor(private readonly window: number, private readonly sendAck: (bytes: number) => void) {}

  consume(n: number, drained: boolean): void {
    this.consumed += n;
    if (this.consumed > this.acked && (drained || this.consumed - this.acked >= this.window / 4)) {
      this.acked = this.consumed;
      this.sendAck(this.consumed);
    }
  }
}
