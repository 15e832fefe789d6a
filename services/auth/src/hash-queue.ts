/**
 * The password hashing queue. scrypt is the one costly thing auth does (tens
 * of milliseconds of a core each), so at most `concurrency` run at once and at
 * most `capacity` wait; a full queue refuses at once with `rate_limited` and
 * an estimate of the wait, instead of growing a backlog that every later
 * login sits behind. Waiters are served round-robin by lane (the client's
 * address), so a flood from one address waits behind itself, not in front of
 * everyone else.
 */
import { ColmenaError } from "@colmena/protocol";

export class HashQueue {
  private running = 0;
  private waiting = 0;
  /** Waiters by lane, lanes in turn order: the one served goes to the back. */
  private readonly lanes = new Map<string, (() => void)[]>();
  /** Recent run time of one hash (moving average), for `retry_after_ms`. */
  private avgMs = 50;

  constructor(private readonly concurrency: number, private readonly capacity: number) {}

  /** Runs `fn` when a slot is free, or refuses (`rate_limited`) when the queue is full. */
  async run<T>(lane: string, fn: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency) {
      this.running++;
    } else {
      if (this.waiting >= this.capacity)
        throw new ColmenaError("rate_limited", "too many password checks under way; retry shortly", { retryAfterMs: this.estimatedWaitMs() });
      await new Promise<void>((resolve) => this.enqueue(lane, resolve));
    }
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.avgMs = 0.8 * this.avgMs + 0.2 * (performance.now() - start);
      this.handOver();
    }
  }

  /** Roughly when a check asked now would start. */
  estimatedWaitMs(): number {
    return Math.max(1, Math.ceil(((this.waiting + 1) / this.concurrency) * this.avgMs));
  }

  /** Checks running and waiting now (tests). */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting };
  }

  private enqueue(lane: string, resolve: () => void): void {
    const q = this.lanes.get(lane);
    if (q) q.push(resolve);
    else this.lanes.set(lane, [resolve]);
    this.waiting++;
  }

  /** A run finished: its slot goes to the next lane in turn, or is freed. */
  private handOver(): void {
    const first = this.lanes.entries().next();
    if (first.done) {
      this.running--;
      return;
    }
    const [lane, q] = first.value;
    const resolve = q.shift()!;
    this.lanes.delete(lane);
    if (q.length > 0) this.lanes.set(lane, q);
    this.waiting--;
    resolve();
  }
}
