/**
 * What a task type is: a name, its aliases and numeric code (protocol.md
 * section 5), an input check that runs in the API before anything is stored
 * (so bad input is `bad_request` at once, never a retry), a handler that
 * runs on a worker, and how long the handler may take before the attempt
 * counts as failed.
 */
import { badRequest } from "@colmena/protocol";

/** What a handler gets besides its input. */
export interface TaskContext {
  /** Aborted when the task is cancelled or its attempt times out: stop soon. */
  signal: AbortSignal;
  /** Reports progress (0..1) to the submitter as `task.progress`. */
  progress(fraction: number): void;
  /** Which attempt this is, from 1. */
  attempt: number;
}

export interface TaskType<I = unknown, R = unknown> {
  name: string;
  /** Other names and the numeric code (as digits), matched case-insensitively. */
  aliases: readonly string[];
  /** Checks and normalises the input; throws `bad_request`. */
  parse(input: unknown): I;
  run(input: I, ctx: TaskContext): Promise<R> | R;
  /** How long one attempt may run; past it the attempt is aborted and retried. */
  timeoutMs(input: I): number;
  /**
   * The handler has no effect beyond its result (and progress). A worker then
   * runs a first delivery at once instead of first reading whether the task
   * was cancelled meanwhile: a cancelled task's result is never recorded
   * (the write expects the task unchanged), so running it is unobservable.
   * Leave it unset for handlers that touch anything outside.
   */
  pure?: boolean;
}

export function defineTaskType<I, R>(t: TaskType<I, R>): TaskType<I, R> {
  return t;
}

/** The largest string input: 256 KiB of UTF-8. */
export const MAX_INPUT_BYTES = 256 * 1024;

/** The input of the text types: a string of at most 256 KiB. */
export function textInput(input: unknown): string {
  if (typeof input !== "string") throw badRequest("input must be a string", [{ path: "input", message: "expected a string" }]);
  if (Buffer.byteLength(input, "utf8") > MAX_INPUT_BYTES) {
    throw badRequest("input is over 256 KiB", [{ path: "input", message: "at most 256 KiB of UTF-8" }]);
  }
  return input;
}

/** Rejects when the signal aborts; for handlers that await something long. */
export function abortable<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => { signal.removeEventListener("abort", onAbort); resolve(v); },
      (e) => { signal.removeEventListener("abort", onAbort); reject(e); },
    );
  });
}
