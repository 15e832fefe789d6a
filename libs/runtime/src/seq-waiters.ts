/**
 * Promises waiting for a sequence to be reached, kept sorted by sequence so
 * each advance resolves a prefix of the list and touches nothing else.
 */
interface Waiter {
  seq: number;
  resolve(): void;
  reject(err: unknown): void;
  timer?: NodeJS.Timeout;
}

export class SeqWaiters {
  private list: Waiter[] = [];

  get size(): number {
    return this.list.length;
  }

  /** Waits for `resolveUpTo(n)` with n >= seq; after `timeoutMs` (Infinity: never) rejects with `onTimeout()`. */
  add(seq: number, timeoutMs: number, onTimeout: () => unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { seq, resolve, reject };
      if (Number.isFinite(timeoutMs)) {
        w.timer = setTimeout(() => {
          const i = this.list.indexOf(w);
          if (i >= 0) this.list.splice(i, 1);
          reject(onTimeout());
        }, timeoutMs);
      }
      // Binary search for the first waiter with a larger sequence.
      let lo = 0;
      let hi = this.list.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.list[mid].seq <= seq) lo = mid + 1;
        else hi = mid;
      }
      this.list.splice(lo, 0, w);
    });
  }

  resolveUpTo(seq: number): void {
    let n = 0;
    while (n < this.list.length && this.list[n].seq <= seq) n++;
    if (n === 0) return;
    for (const w of this.list.splice(0, n)) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve();
    }
  }

  rejectAll(err: unknown): void {
    for (const w of this.list.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
