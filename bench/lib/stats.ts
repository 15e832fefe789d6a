/**
 * Latency samples and their summary. Samples are kept whole (a few million
 * doubles at most) and sorted once, so percentiles are exact, not estimated.
 */

/** An append-only list of latencies in milliseconds, in a growable Float64Array (no per-sample garbage). */
export class Samples {
  private buf = new Float64Array(1 << 16);
  private n = 0;

  add(ms: number): void {
    if (this.n === this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.n++] = ms;
  }

  get count(): number {
    return this.n;
  }

  /** The samples so far, copied (so they can cross an IPC channel or be merged). */
  values(): number[] {
    return Array.from(this.buf.subarray(0, this.n));
  }
}

/** What every benchmark reports for one run. */
export interface Summary {
  count: number;
  errors: number;
  seconds: number;
  /** Completed operations per second. */
  rate: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** The value below which `q` (0-1) of the sorted samples fall (nearest rank). */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Summarises latencies (ms) of `count` operations completed in `seconds`. */
export function summarise(latencies: ArrayLike<number>, seconds: number, errors = 0): Summary {
  const sorted = Float64Array.from(latencies as ArrayLike<number>).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    errors,
    seconds,
    rate: seconds > 0 ? sorted.length / seconds : 0,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

/** Merges the raw latencies of several client processes into one summary (rates add up over the longest window). */
export function mergeSummaries(parts: { latencies: number[]; seconds: number; errors: number }[]): Summary {
  const all: number[] = [];
  for (const p of parts) for (const v of p.latencies) all.push(v);
  const seconds = Math.max(0, ...parts.map((p) => p.seconds));
  return summarise(all, seconds, parts.reduce((a, p) => a + p.errors, 0));
}

/** `a / b`, rounded for display; NaN when either is missing. */
export function ratio(a: number, b: number): number {
  return b > 0 && Number.isFinite(a) ? Math.round((a / b) * 100) / 100 : NaN;
}

/** The median of some values (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
