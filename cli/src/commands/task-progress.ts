/**
 * How `colmena tasks submit --wait` and `colmena tasks watch` show the
 * progress tasks report (`task.progress`): on a terminal, a bar per task
 * (cli-progress) redrawn in place; anywhere else (a pipe, a file, a test),
 * one plain line per report, so output stays readable and greppable.
 */
import cliProgress from "cli-progress";

export interface ProgressView {
  /** A task reported `fraction` (0..1). */
  progress(taskId: string, fraction: number): void;
  /** The task ended: its bar is drawn full (done) or left where it was. */
  end(taskId: string, done: boolean): void;
  /** Prints a line (above the bars on a terminal). */
  line(text: string): void;
  /** Stops drawing (before the command prints its result). */
  stop(): void;
}

/**
 * `out`: where the bars (or progress lines) go; `lines`: where `line()` goes
 * when `out` is not a terminal (a command's own output stays on stdout).
 */
export function progressView(out: NodeJS.WriteStream = process.stderr, lines: NodeJS.WritableStream = process.stdout): ProgressView {
  if (!out.isTTY) {
    return {
      progress: (taskId, f) => out.write(`${taskId} progress ${Math.round(f * 100)}%\n`),
      end: () => undefined,
      line: (text) => lines.write(`${text}\n`),
      stop: () => undefined,
    };
  }
  const bars = new cliProgress.MultiBar(
    { stream: out, format: "{task} [{bar}] {percentage}%", hideCursor: true, clearOnComplete: false, stopOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  const byTask = new Map<string, cliProgress.SingleBar>();
  const bar = (taskId: string) => {
    let b = byTask.get(taskId);
    if (!b) byTask.set(taskId, (b = bars.create(100, 0, { task: taskId })));
    return b;
  };
  return {
    progress: (taskId, f) => bar(taskId).update(Math.round(f * 100)),
    end: (taskId, done) => { if (done && byTask.has(taskId)) bar(taskId).update(100); },
    line: (text) => bars.log(`${text}\n`),
    stop: () => bars.stop(),
  };
}
