/**
 * Lets a `wait: true` submit sleep until its task finishes. The read model
 * calls `changed(id)` from `apply`, inside its transaction, so waiters are
 * woken on a microtask: after the commit, when the new row is readable.
 */
import { ColmenaError } from "@colmena/protocol";

export class TaskWatch {
  private readonly waiters = new Map<string, Set<() => void>>();

  changed(taskId: string): void {
    const set = this.waiters.get(taskId);
    if (set) queueMicrotask(() => { for (const fn of [...set]) fn(); });
  }

  /**
   * Resolves with `check()`'s value once it is defined: checked now and after
   * every change of the task; `timeout` after `timeoutMs`.
   */
  until<T>(taskId: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
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
      const onChange = () => {
        let v: T | undefined;
        try { v = check(); } catch (e) { done(); reject(e); return; }
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
