/**
 * What one worker does with one run message: read the task's last event
 * (from the stream leader) to decide whether and as which attempt it runs
 * (a first delivery of a `pure` type skips the read: see TaskType.pure),
 * run its handler under a timeout, and record the outcome (`done`, `retry` +
 * a delayed nak, or `failed`), each append expecting the task's last event
 * as this worker knows it. If anything else wrote to the task meanwhile (a
 * cancel, or another worker that took over after this one looked dead), the
 * append fails and this worker steps back: exactly one `done` is ever recorded.
 *
 * `started` is recorded once an attempt has
 * run for `startedAfterMs`, so an attempt that ends sooner costs one write,
 * its outcome. A redelivery (the previous holder failed, died or gave the
 * message back) records `started` before it runs, so attempts that kill
 * their worker are counted and end in `failed`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ColmenaError } from "@colmena/protocol";
import { publishEvent, type Logger, type WorkMsg } from "@colmena/runtime";
import type { NatsConnection } from "@nats-io/transport-node";
import { TERMINAL_KINDS, type TaskEvent, type WorkItem } from "./events.ts";
import { LazyAbort } from "./lazy-abort.ts";
import type { LastEvent, TaskLog } from "./task-log.ts";
import type { TaskTypes } from "./types/registry.ts";

export interface RunDeps {
  nc: NatsConnection;
  log: Logger;
  taskLog: TaskLog;
  types: TaskTypes;
  workerId: string;
  /** Record `started` once a first-delivery attempt has run this long (0: always, before running). */
  startedAfterMs: number;
  backoff(attempt: number): number;
  /** Whether the worker with this id is alive (holds its id in the workers bucket). */
  isLive(workerId: string): Promise<boolean>;
  /** Registers the running task's abort hook for cancels; returns the unregister function. */
  track(taskId: string, abort: (reason: Error) => void): () => void;
  outcome(type: string, outcome: string, ms: number): void;
}

export class Cancelled extends Error {
  override name = "Cancelled";
}
class Superseded extends Error {
  override name = "Superseded";
}

const isPromiseLike = (v: unknown): v is PromiseLike<unknown> => typeof (v as PromiseLike<unknown> | null)?.then === "function";

const message = (err: unknown) => (err instanceof Error ? `${err.name === "Error" ? "" : `${err.name}: `}${err.message}` : String(err));

/**
 * Tells the submitter's connections how the task ended. `seq` is the stream
 * sequence of the outcome: a repeat (announced again after its worker died
 * before acking) carries the same one, and the SDK drops it.
 */
function announce(deps: RunDeps, item: WorkItem, ev: TaskEvent, seq: number): void {
  const to = { users: [item.user_id] };
  if (ev.kind === "done") publishEvent(deps.nc, to, "task.done", { task_id: item.task_id, result: ev.result, worker: ev.worker, seq });
  else if (ev.kind === "failed") publishEvent(deps.nc, to, "task.failed", { task_id: item.task_id, error: ev.error, seq });
}

interface Plan {
  attempt: number;
  /** The task subject's last sequence, which the next append expects. */
  seq: number;
  /** Whether `started` is already recorded for this attempt. */
  started: boolean;
}

/** Decides from the task's last event whether and as which attempt this delivery runs; null means "not this time". */
async function claim(deps: RunDeps, msg: WorkMsg, item: WorkItem, pure: boolean): Promise<Plan | null> {
  // A first delivery records `started` only if its attempt lasts; a redelivery records it before running.
  const deferStarted = msg.deliveryCount === 1 && deps.startedAfterMs > 0;
  // A first delivery of a pure type runs at once, as the attempt after the one its run message
  // records, expecting the task subject as it was then; any change since fails its first write.
  if (pure && deferStarted) {
    return { attempt: item.attempt + 1, seq: item.kind === "released" ? item.expect : 0, started: false };
  }
  for (let round = 0; round < 10; round++) {
    const last = await deps.taskLog.last(item.task_id);
    let plan: Plan = { attempt: 1, seq: 0, started: false };
    if (last) {
      const ev = last.ev;
      if (TERMINAL_KINDS.has(ev.kind)) {
        // Redelivered although it ended: the worker that recorded the end never acked. If it is
        // alive it was only slow, and has told the client; if it died, maybe not yet.
        if (msg.deliveryCount > 1 && (ev.kind === "done" || ev.kind === "failed") && ev.worker !== deps.workerId) {
          if (!ev.worker || !(await deps.isLive(ev.worker).catch(() => true))) announce(deps, item, ev, last.seq);
        }
        msg.ack();
        return null;
      }
      if (ev.kind === "started" || ev.kind === "progress") {
        // First delivery while an attempt is under way: another delivery of this task is being run.
        if (msg.deliveryCount === 1) { msg.ack(); return null; }
        // Redelivered after ack_wait: the worker of that attempt went silent (died or hung).
        if (ev.attempt >= item.max_attempts) {
          const failed: TaskEvent = { kind: "failed", task_id: item.task_id, attempt: ev.attempt, error: `worker lost on attempt ${ev.attempt} (no heartbeat within ack_wait)`, worker: deps.workerId, ts: Date.now() };
          const r = await deps.taskLog.append(failed, last.seq);
          if (r.ok) { announce(deps, item, failed, r.seq); msg.ack(); return null; }
          continue;
        }
        deps.log.warn({ task: item.task_id, attempt: ev.attempt }, "previous attempt went silent; running the task again");
      }
      plan = { attempt: ev.attempt + 1, seq: last.seq, started: false };
    }
    if (deferStarted) return plan;
    const started = await deps.taskLog.append(startedEvent(deps, item, plan.attempt, Date.now()), plan.seq);
    if (started.ok) return { attempt: plan.attempt, seq: started.seq, started: true };
  }
  // Ten lost races in a row: let the message come back later.
  msg.nak(deps.backoff(1));
  return null;
}

const startedEvent = (deps: RunDeps, item: WorkItem, attempt: number, ts: number): TaskEvent => ({ kind: "started", task_id: item.task_id, attempt, worker: deps.workerId, ts });

/** After a failed append: was the task finished by someone else (ack), or taken over (leave the message to its new delivery)? */
async function stepBack(deps: RunDeps, msg: WorkMsg, taskId: string, attempt: number): Promise<void> {
  const last: LastEvent | null = await deps.taskLog.last(taskId);
  if (!last || TERMINAL_KINDS.has(last.ev.kind)) msg.ack();
  else {
    // Acking or nak'ing would end or repeat the delivery another worker now runs.
    msg.leave();
    deps.log.info({ task: taskId, attempt, now: last.ev.attempt }, "task taken over by another attempt; stepping back");
  }
}

export async function runTask(deps: RunDeps, msg: WorkMsg): Promise<void> {
  const item = msg.json<WorkItem>();
  // A delayed task is released a little early (RELEASE_EARLY_MS): it starts at its due time.
  // (A timer may fire a millisecond before its time: hence the loop.)
  for (let early = (item.run_at ?? 0) - Date.now(); early > 0; early = item.run_at! - Date.now()) await sleep(early);
  const type = deps.types.get(item.type);
  const plan = await claim(deps, msg, item, type?.pure === true);
  if (!plan) return;
  const { attempt } = plan;
  let seq = plan.seq;
  const t0 = Date.now();
  const controller = new LazyAbort();
  const untrack = deps.track(item.task_id, (reason) => controller.abort(reason));
  // Appends made while running (started, progress) go one after another, each expecting the previous one.
  let chain: Promise<void> = Promise.resolve();
  const appendInOrder = (ev: TaskEvent, then?: (seq: number) => void) => {
    chain = chain.then(async () => {
      if (controller.aborted) return;
      const r = await deps.taskLog.append(ev, seq);
      if (!r.ok) { controller.abort(new Superseded("the task changed while running")); return; }
      seq = r.seq;
      then?.(r.seq);
    }).catch((err) => deps.log.warn({ err, task: item.task_id }, `could not record ${ev.kind}`));
  };
  let started = plan.started;
  const markStarted = () => {
    if (started) return;
    started = true;
    appendInOrder(startedEvent(deps, item, attempt, t0));
  };
  let startedTimer: NodeJS.Timeout | undefined;
  const progress = (fraction: number) => {
    const p = Math.max(0, Math.min(1, Number(fraction) || 0));
    markStarted();
    appendInOrder({ kind: "progress", task_id: item.task_id, attempt, progress: p, ts: Date.now() }, (at) =>
      publishEvent(deps.nc, { users: [item.user_id] }, "task.progress", { task_id: item.task_id, progress: p, seq: at }));
  };
  let result: unknown;
  let failure: unknown;
  try {
    if (!type) throw new ColmenaError("bad_request", `this worker does not know task type "${item.type}"`);
    const out = type.run(type.parse(item.input), { get signal() { return controller.signal; }, progress, attempt });
    if (!isPromiseLike(out)) {
      // A synchronous handler is done already: no timers, no race with the abort signal.
      result = out;
    } else {
      if (!started) startedTimer = setTimeout(markStarted, deps.startedAfterMs);
      const timeoutMs = type.timeoutMs(item.input as never);
      const timer = setTimeout(() => controller.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      try {
        result = await new Promise((resolve, reject) => {
          controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
          out.then(resolve, reject);
        });
      } finally {
        clearTimeout(timer);
      }
    }
  } catch (err) {
    failure = controller.aborted ? controller.reason : err;
  } finally {
    clearTimeout(startedTimer);
    untrack();
  }
  await chain;
  if (failure === undefined && controller.aborted) failure = controller.reason;

  if (failure instanceof Cancelled || failure instanceof Superseded) {
    deps.outcome(item.type, "cancelled", Date.now() - t0);
    await stepBack(deps, msg, item.task_id, attempt);
    return;
  }
  let ev: TaskEvent;
  if (failure === undefined) {
    ev = { kind: "done", task_id: item.task_id, attempt, result, worker: deps.workerId, started_at: t0, ts: Date.now() };
  } else {
    const permanent = failure instanceof ColmenaError && !failure.retryable;
    const error = message(failure);
    if (!permanent && attempt < item.max_attempts) {
      const delay = deps.backoff(attempt);
      const retry: TaskEvent = { kind: "retry", task_id: item.task_id, attempt, error, retry_at: Date.now() + delay, worker: deps.workerId, ts: Date.now() };
      const r = await deps.taskLog.append(retry, seq);
      deps.outcome(item.type, "retry", Date.now() - t0);
      if (r.ok) msg.nak(delay);
      else await stepBack(deps, msg, item.task_id, attempt);
      return;
    }
    ev = { kind: "failed", task_id: item.task_id, attempt, error, worker: deps.workerId, ts: Date.now() };
  }
  const r = await deps.taskLog.append(ev, seq);
  deps.outcome(item.type, ev.kind, Date.now() - t0);
  if (!r.ok) { await stepBack(deps, msg, item.task_id, attempt); return; }
  announce(deps, item, ev, r.seq);
  msg.ack();
}
