/**
 * An abort that makes its AbortSignal only when someone asks for it. Most
 * task handlers are synchronous and never look at `ctx.signal`, and a
 * Node 20 AbortController (an EventTarget) was about 2% of a worker's busy
 * time in a profile of the tasks bench (createAbortSignal). A
 * signal asked for after the abort is made already aborted, with its reason.
 */
export class LazyAbort {
  private controller: AbortController | undefined;
  aborted = false;
  reason: unknown;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}
