import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { progressView } from "../src/commands/task-progress.ts";

/** A stream that says it is (or is not) a terminal, and what was written to it. */
function stream(tty: boolean) {
  const s = Object.assign(new PassThrough(), { isTTY: tty, columns: 80, cursorTo: () => true, clearLine: () => true, moveCursor: () => true }) as unknown as NodeJS.WriteStream;
  let text = "";
  s.on("data", (b: Buffer) => (text += b.toString()));
  return { s, text: () => text };
}

test("cli task progress - on a terminal a bar per task drawn in place; elsewhere one plain line per report", async () => {
  const term = stream(true);
  const view = progressView(term.s, term.s);
  view.progress("t_a", 0.25);
  view.progress("t_b", 0.5);
  view.progress("t_a", 0.75);
  view.end("t_a", true);
  view.stop();
  await new Promise((r) => setImmediate(r));
  assert.match(term.text(), /t_a \[[█░]+\] 100%/);
  assert.match(term.text(), /t_b \[[█░]+\] 50%/);
  assert.doesNotMatch(term.text(), /progress/);

  const pipe = stream(false);
  const out = stream(false);
  const plain = progressView(pipe.s, out.s);
  plain.progress("t_a", 0.25);
  plain.progress("t_a", 1);
  plain.line("{\"event\":\"task.done\"}");
  plain.stop();
  await new Promise((r) => setImmediate(r));
  assert.equal(pipe.text(), "t_a progress 25%\nt_a progress 100%\n");
  assert.equal(out.text(), "{\"event\":\"task.done\"}\n");
});
