/**
 * Load generators. `closedLoop`: N clients, each sending its next request when
 * the previous one is answered (measures capacity; latency is per request).
 * `pacedLoop`: requests sent on a fixed schedule whatever the replies do
 * (open loop), latency measured from the time each request was due, so a
 * stall counts against every request it delays (no coordinated omission).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Samples } from "./stats.ts";

/** One request of one client; resolves true on success, false on an error reply. */
export type Op = () => Promise<boolean>;

/** The raw outcome of a run in one process (merged across processes with `mergeSummaries`). */
export interface LoadResult {
  latencies: number[];
  seconds: number;
  errors: number;
  /** Every op finished during the call, warm-up included (the denominator of CPU per op). */
  completed?: number;
}

export interface ClosedLoopOptions {
  /** Run, unrecorded, this long first (JIT, connection buffers, NATS interest). */
  warmupMs: number;
  durationMs: number;
}

/** Runs every client's op back to back until the time is up; records those that complete inside the window. */
export async function closedLoop(clients: Op[], o: ClosedLoopOptions): Promise<LoadResult> {
  const samples = new Samples();
  let errors = 0;
  const start = performance.now();
  const from = start + o.warmupMs;
  const until = from + o.durationMs;
  let completed = 0;
  const worker = async (op: Op) => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= until) return;
      const ok = await op();
      completed++;
      const t1 = performance.now();
      if (t0 >= from && t1 <= until) {
        if (ok) samples.add(t1 - t0);
        else errors++;
      }
    }
  };
  await Promise.all(clients.map(worker));
  return { latencies: samples.values(), seconds: o.durationMs / 1000, errors, completed };
}

export interface PacedOptions {
  /** Requests per second across all clients. */
  rate: number;
  durationMs: number;
  warmupMs: number;
  /** Give up waiting for stragglers after this long past the schedule's end. */
  drainMs?: number;
}

/** Sends `rate` requests per second, spread round-robin over the clients, for the duration. */
export async function pacedLoop(clients: Op[], o: PacedOptions): Promise<LoadResult> {
  const samples = new Samples();
  let errors = 0;
  let outstanding = 0;
  const interval = 1000 / o.rate;
  const start = performance.now();
  const from = start + o.warmupMs;
  const until = from + o.durationMs;
  let sent = 0;
  const fire = (due: number, client: Op) => {
    outstanding++;
    void client().then((ok) => {
      outstanding--;
      if (due < from) return;
      if (ok) samples.add(performance.now() - due);
      else errors++;
    });
  };
  for (;;) {
    const now = performance.now();
    // Send everything that is due, even when the timer woke late.
    while (start + sent * interval <= now && start + sent * interval < until) {
      fire(start + sent * interval, clients[sent % clients.length]);
      sent++;
    }
    if (start + sent * interval >= until) break;
    await sleep(Math.max(0, start + sent * interval - performance.now()));
  }
  const drainUntil = performance.now() + (o.drainMs ?? 5000);
  while (outstanding > 0 && performance.now() < drainUntil) await sleep(5);
  return { latencies: samples.values(), seconds: o.durationMs / 1000, errors: errors + outstanding, completed: sent - outstanding };
}

export interface CountedOptions {
  /** Each client first runs this many ops, unrecorded; then all start the measured part together. */
  warmupPerClient: number;
  /** Ops in the measured part, taken by whichever client is free. */
  total: number;
  /** Stop issuing once this many ops failed (a broken system should fail the run fast, not time out N times). */
  maxErrors?: number;
}

/** Closed loop over a fixed number of ops: throughput is `total` over the time from the common start to the last reply. */
export async function countedLoop(clients: Op[], o: CountedOptions): Promise<LoadResult> {
  await Promise.all(clients.map(async (op) => {
    for (let i = 0; i < o.warmupPerClient; i++) await op();
  }));
  const samples = new Samples();
  let errors = 0;
  let issued = 0;
  const start = performance.now();
  await Promise.all(clients.map(async (op) => {
    while (issued < o.total && errors <= (o.maxErrors ?? Infinity)) {
      issued++;
      const t0 = performance.now();
      if (await op()) samples.add(performance.now() - t0);
      else errors++;
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  return { latencies: samples.values(), seconds, errors, completed: o.warmupPerClient * clients.length + samples.count + errors };
}
