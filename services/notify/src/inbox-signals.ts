/**
 * Wakes the HTTP event streams of a user when the read model folds a
 * notification into their inbox. A stream reads the inbox itself (a cursor
 * over its sequence), so a wake-up only says "look again": a spurious one
 * (a batch folded twice) costs one query, and none is ever needed for
 * correctness beyond that look. Folding is synchronous, so a stream that
 * found nothing and registers before yielding to the event loop misses no
 * fold in between.
 */
export class InboxSignals {
  private readonly waiting = new Map<string, Set<() => void>>();
  private readonly touched = new Set<string>();
  private scheduled = false;

  /** The fold put a notification in this user's inbox (cheap when nobody listens). */
  touch(userId: string): void {
    if (!this.waiting.has(userId)) return;
    this.touched.add(userId);
    if (this.scheduled) return;
    this.scheduled = true;
    // After the fold's batch (and its transaction) is done.
    setImmediate(() => {
      this.scheduled = false;
      for (const u of this.touched) for (const wake of this.waiting.get(u) ?? []) wake();
      this.touched.clear();
    });
  }

  /** Resolves `true` at the next notification folded into the user's inbox, `false` after `ms` or when `signal` aborts. */
  next(userId: string, ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let set = this.waiting.get(userId);
      if (!set) this.waiting.set(userId, (set = new Set()));
      const done = (woke: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        set!.delete(wake);
        if (set!.size === 0 && this.waiting.get(userId) === set) this.waiting.delete(userId);
        resolve(woke);
      };
      const wake = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      set.add(wake);
      if (signal.aborted) done(false);
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}
