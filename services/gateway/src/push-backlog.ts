/**
 * Pushes go out as they arrive until the gateway has spent `sliceMs` on them
 * in one turn of the event loop; after that they wait in a FIFO and go out a
 * slice per turn, with the loop's reads in between.
 *
 * Why: a push's socket writes run on the thread that reads the gateway's NATS
 * connection. A gateway asked to write more than it can (a notification to
 * 1,000 users 200 times a second) used to stop reading NATS for seconds;
 * nats-server's buffer for it grew past its limit and the server closed the
 * connection as a slow consumer, which loses every request in flight and
 * every push, for every client of the gateway. With the backlog the gateway
 * keeps reading: an overload costs latency, and past `maxBytes` the oldest
 * waiting pushes (counted; live pushes are at most once, protocol.md section
 * 3), never the connection. Pushes keep their order among themselves; a
 * reply may pass pushes that are waiting.
 */
import { performance } from "node:perf_hooks";

export interface PushBacklogOptions {
  /** Delivery time per turn of the event loop before pushes wait (ms). */
  sliceMs: number;
  /** Bytes of pushes that may wait; past it the oldest are dropped. */
  maxBytes: number;
  /** Told how many waiting pushes were dropped. */
  onDrop(count: number): void;
}

interface Waiting {
  bytes: number;
  run: () => void;
}

export class PushBacklog {
  private queue: Waiting[] = [];
  private head = 0;
  private bytes = 0;
  /** When this turn's delivery began (-1: none yet this turn). */
  private turnStart = -1;
  private draining = false;

  constructor(private readonly opts: PushBacklogOptions) {}

  /** Pushes waiting now. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  get waitingBytes(): number {
    return this.bytes;
  }

  /** Runs `deliver` now, or after the pushes already waiting when this turn's slice is spent. */
  submit(bytes: number, deliver: () => void): void {
    if (this.waiting === 0 && this.inSlice()) return deliver();
    this.queue.push({ bytes, run: deliver });
    this.bytes += bytes;
    let dropped = 0;
    while (this.bytes > this.opts.maxBytes && this.waiting > 1) {
      this.bytes -= this.take().bytes;
      dropped++;
    }
    if (dropped > 0) this.opts.onDrop(dropped);
    this.schedule();
  }

  private inSlice(): boolean {
    const now = performance.now();
    if (this.turnStart < 0) {
      this.turnStart = now;
      // The check phase follows this turn's I/O callbacks: the next turn gets a slice of its own.
      setImmediate(() => { this.turnStart = -1; });
    }
    return now - this.turnStart < this.opts.sliceMs;
  }

  private schedule(): void {
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  private take(): Waiting {
    const w = this.queue[this.head];
    this.queue[this.head++] = undefined as unknown as Waiting; // let it go
    return w;
  }

  private drain(): void {
    this.draining = false;
    const start = performance.now();
    while (this.waiting > 0 && performance.now() - start < this.opts.sliceMs) {
      const w = this.take();
      this.bytes -= w.bytes;
      w.run();
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.waiting > 0) this.schedule();
  }
}
