/** What a benchmark hands back to bench/main.ts, and how it is printed. */

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

export interface BenchReport {
  /** Tables for the terminal and docs/benchmarks.md. */
  tables: Table[];
  /** Lines printed after the tables: targets met or not, what ran where. */
  notes: string[];
  /** Everything measured, for the JSON file. */
  data: unknown;
}

export interface BenchContext {
  /** A smoke run of a few seconds: same code paths, tiny durations. */
  quick: boolean;
  /** Progress lines (stderr), so stdout keeps only the tables. */
  progress(line: string): void;
  /** The nats-server binary to measure on (`--nats`); undefined: the installed one. */
  natsBin?: string;
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<BenchReport>;
}

/** Formats a number for a table cell: fixed decimals for small values, thousands grouped for large. */
export function fmt(v: number | string | undefined, digits = 2): string {
  if (v === undefined) return "-";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return "-";
  if (Number.isInteger(v) || Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(digits);
}

/** A ratio for a table cell: `1.63x`. */
export function times(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}x` : "-";
}

/** A Markdown table (readable in a terminal too, and pasted into docs/benchmarks.md as is). */
export function renderTable(t: Table): string {
  const cells = t.rows.map((r) => r.map((c) => (typeof c === "number" ? fmt(c) : c)));
  const widths = t.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => "| " + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  const sep = "| " + widths.map((w, i) => (i === 0 ? "-".repeat(w) : "-".repeat(w - 1) + ":")).join(" | ") + " |";
  return [`### ${t.title}`, "", line(t.columns), sep, ...cells.map(line)].join("\n");
}
