/**
 * A request body as the replica receives it: the DATA chunks that arrived,
 * handed to the handler as an async iterable. A chunk is acknowledged once the
 * handler comes back for the next one (it is done with it), so the replica
 * holds at most the window the gateway may send ahead.
 */
import { ReceiveCredit } from "./credit.ts";

export class BodyQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private taken = false;
  private readonly credit: ReceiveCredit;

  constructor(window: number, sendAck: (bytes: number) => void, empty = false) {
    this.credit = new ReceiveCredit(window, sendAck);
    this.ended = empty;
  }

  push(chunk: Buffer): void {
    if (this.ended || this.failure) return;
    this.chunks.push(chunk);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  /** The request broke (the client went away): the handler's next read throws. */
  fail(err: Error): void {
    if (this.ended && this.chunks.length === 0) return;
    this.failure = err;
    this.chunks.length = 0;
    this.notify();
  }

  /** Bytes received and not yet taken by the handler. */
  get buffered(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.taken) throw new Error("a request body can be read once");
    this.taken = true;
    for (;;) {
      if (this.failure) throw this.failure;
      const chunk = this.chunks.shift();
      if (chunk) {
        yield chunk;
        this.credit.consume(chunk.length, this.chunks.length === 0);
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}
