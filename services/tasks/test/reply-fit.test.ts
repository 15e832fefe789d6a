/**
 * Replies always fit (issue 14, item 6): a valid task whose input plus
 * result pass NATS's max_payload made tasks.get and every tasks.list page
 * holding it answer `internal`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { maxPayloadOf } from "@colmena/runtime";
import { startNats } from "@colmena/testing";
import { fitPage, fitRecord, fitValue, toRecord, type TaskRow } from "@colmena/tasks";
import { call, tasksFixture } from "./helpers.ts";

const bigInput = "ΐ".repeat(128 * 1024); // 256 KiB of UTF-8; its uppercase is 768 KiB
const bigResult = bigInput.toUpperCase();

test("tasks reply fit - a task whose input and result pass max_payload is still answered by tasks.get and tasks.list", async () => {
  // nats-server's own 1 MiB default (a server Colmena did not configure), which input plus result pass.
  await using ns = await startNats({ maxPayload: 1 << 20 });
  await using fx = await tasksFixture(ns.url);
  await fx.start();
  const max = maxPayloadOf(fx.nc);
  assert.ok(Buffer.byteLength(bigInput) + Buffer.byteLength(bigResult) >= max, "the case needs input plus result over max_payload");
  const done = await call(fx.nc, "tasks.submit", { type: "uppercase", input: bigInput, wait: true }, "u-big", { timeoutMs: 30_000 });
  assert.equal(done.result, bigResult, "the submit reply carries the whole result");
  assert.equal(done.result_truncated, undefined);

  const rec = await call(fx.nc, "tasks.get", { task_id: done.task_id }, "u-big");
  assert.equal(rec.status, "done");
  assert.equal(rec.result, bigResult, "the result is whole: the input, which the client has, is cut first");
  assert.equal(rec.input_truncated, true);
  assert.ok(typeof rec.input === "string" && rec.input.length > 0 && bigInput.startsWith(rec.input));
  assert.equal(rec.result_truncated, undefined);

  // More such tasks and small ones: every page fits, the pages chain through all of them.
  const small = await call(fx.nc, "tasks.submit", { type: "reverse", input: "abc", wait: true }, "u-big");
  const second = await call(fx.nc, "tasks.submit", { type: "uppercase", input: bigInput, wait: true }, "u-big", { timeoutMs: 30_000 });
  const seen: string[] = [];
  let before: number | undefined;
  for (let page = 0; page < 10; page++) {
    const r = await call(fx.nc, "tasks.list", { limit: 50, ...(before ? { before } : {}) }, "u-big");
    assert.ok(r.tasks.length >= 1);
    seen.push(...r.tasks.map((t: { task_id: string }) => t.task_id));
    if (!r.next) break;
    before = r.next;
  }
  assert.deepEqual(seen, [second.task_id, small.task_id, done.task_id], "newest first, each once");
});

const row = (n: number, input: unknown, result: unknown): TaskRow => ({
  task_id: `t_${String(n).padStart(32, "0")}`, user_id: "u", username: "u", submit_seq: n, last_seq: n, ev_seq: n, released: 1, last_kind: "done",
  type: "uppercase", status: "done", input: JSON.stringify(input), result: result === undefined ? null : JSON.stringify(result), error: null,
  worker: "w", attempts: 1, max_attempts: 3, priority: "normal", run_at: null, progress: null, created_at: 1, updated_at: 2,
});
const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

test("tasks reply fit - a record over the budget cuts its input first, then its result, to the longest prefix that fits", () => {
  const whole = row(1, "i".repeat(1000), "R".repeat(1000));
  assert.deepEqual(fitRecord(whole, 10_000), toRecord(whole), "what fits is untouched");
  const noInput = fitRecord(whole, 1500);
  assert.ok(bytes(noInput) <= 1500, `${bytes(noInput)} bytes`);
  assert.equal(noInput.result, "R".repeat(1000));
  assert.equal(noInput.input_truncated, true);
  assert.ok((noInput.input as string).length > 0 && (noInput.input as string).length < 1000);
  const cut = fitRecord(whole, 700);
  assert.ok(bytes(cut) <= 700, `${bytes(cut)} bytes`);
  assert.deepEqual([cut.input, cut.input_truncated, cut.result_truncated], [null, true, true]);
  assert.ok(/^R+$/.test(cut.result as string) && (cut.result as string).length > 300, "the result's longest prefix that fits");
  // Multi-byte and escaped characters count as the bytes they take, and a surrogate pair is never split.
  const wide = fitValue("😀ΐ".repeat(500), 1001);
  assert.ok(wide.cut && bytes(wide.value) <= 1001 && bytes(wide.value) > 950);
  assert.ok(!/[\ud800-\udbff]$/.test(wide.value as string));
  assert.deepEqual(fitValue(12345, 3), { cut: true }, "what is not a string is left out");
});

test("tasks reply fit - a page ends before a record that would not fit, and always takes its first one", () => {
  const rows = [row(5, "a", "A".repeat(400)), row(4, "b", "B".repeat(400)), row(3, "c", "C".repeat(400))];
  const one = bytes(toRecord(rows[0]));
  const two = fitPage(rows, 64 + 2 * one + 10);
  assert.deepEqual([two.records.length, two.more], [2, true]);
  assert.deepEqual(two.records, rows.slice(0, 2).map(toRecord));
  assert.deepEqual(fitPage(rows, 100_000), { records: rows.map(toRecord), more: false });
  const tiny = fitPage(rows, 400);
  assert.deepEqual([tiny.records.length, tiny.more, tiny.records[0].result_truncated], [1, true, true], "the first record is cut to fit, so paging moves on");
  assert.ok(bytes({ tasks: tiny.records, next: 123456 }) <= 400);
});
