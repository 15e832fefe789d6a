/**
 * Lets a `wait: true` submit sleep until its task finishes. The read model
 * calls `changed(id, news)` from `apply`, inside its transaction, so waiters
 * are woken on a microtask, when the new row is readable; `news` (what the
 * event says) spares them reading the row.
 */
import { ColmenaError } from "@colmena/protocol";

export class TaskWatch<N = unknown> {
  private readonly waiters = new Map<string, Set<(news: N) => void>>();

  changed(taskId: string, news: N): void {
    const set = this.waiters.get(taskId);
    if (set) queueMicrotask(() => { for (const fn of [...set]) fn(news); });
  }

  /**
   * Resolves with `check()`'s value once it is defined: checked now (without
   * news) and at every change of the task (with it); `timeout` after `timeoutMs`.
   */
  until<T>(taskId: string, timeoutMs: number, check: (news?: N) => T | undefined): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set!.delete(onChange);
        if (set!.size === 0) this.waiters.delete(taskId);
      };
      const onChange = (news: N) => {
        let v: T | undefined;
        try { v = check(news); } catch (e) { done(); reject(e); return; }
        if (v !== undefined) { done(); resolve(v); }
      };
      const timer = setTimeout(() => {
        done();
        reject(new ColmenaError("timeout", `task ${taskId} did not finish in ${timeoutMs} ms; it goes on, and its events still come`, { details: { task_id: taskId } }));
      }, timeoutMs);
      set.add(onChange);
    });
  }
}
