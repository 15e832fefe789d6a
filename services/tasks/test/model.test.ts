import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { applyEvent, forgetBefore, migrate, TaskQueries } from "../src/model.ts";
import { newTaskId, type TaskEvent } from "../src/events.ts";

function model() {
  const db = new Database(":memory:");
  migrate(db);
  return { db, q: new TaskQueries(db) };
}

const submitted = (input: string, ts: number): TaskEvent => ({
  kind: "submitted", task_id: "t_1", attempt: 0, user_id: "u1", username: "u1", type: "uppercase", input, priority: "normal", max_attempts: 3, ts,
});
const done = (result: string, ts: number): TaskEvent => ({ kind: "done", task_id: "t_1", attempt: 1, result, worker: "w1", ts });

test("tasks model - a submitted event folded twice changes nothing", () => {
  const { db, q } = model();
  applyEvent(db, 1, submitted("a", 10), false);
  applyEvent(db, 2, done("A", 20), false);
  applyEvent(db, 1, submitted("a", 10), false);
  assert.equal(q.get("t_1")?.status, "done");
  assert.equal(q.get("t_1")?.result, JSON.stringify("A"));
});

test("tasks model - a later submitted of a finished task's id is a new task (an idempotency key reused after retention)", () => {
  const { db, q } = model();
  applyEvent(db, 1, submitted("a", 10), false);
  applyEvent(db, 2, done("A", 20), false);
  // Retention purged the task's subjects; a resubmit of its key lands before this model folds the marker.
  applyEvent(db, 9, submitted("again", 90), false);
  const row = q.get("t_1")!;
  assert.deepEqual([row.status, row.submit_seq, row.input, row.result, row.attempts, row.created_at], ["queued", 9, JSON.stringify("again"), null, 0, 90]);
  // The marker of that purge (below 5) forgets the old task, not the new one.
  forgetBefore(db, 5);
  assert.equal(q.get("t_1")?.submit_seq, 9);
  applyEvent(db, 10, done("AGAIN", 100), false);
  assert.equal(q.get("t_1")?.status, "done");
});

test("tasks model - a submitted for an unfinished task's id is ignored", () => {
  const { db, q } = model();
  applyEvent(db, 1, submitted("a", 10), false);
  applyEvent(db, 7, submitted("b", 70), false);
  assert.deepEqual([q.get("t_1")?.submit_seq, q.get("t_1")?.input], [1, JSON.stringify("a")]);
});

test("tasks model - new task ids have the protocol's form and sort by when they were made (the task_id index grows at its end)", async () => {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push(newTaskId(), newTaskId());
    await new Promise((r) => setTimeout(r, 2));
  }
  for (const id of ids) assert.match(id, /^t_[0-9a-f]{32}$/);
  assert.equal(new Set(ids).size, ids.length);
  // Ids of different milliseconds sort in the order they were made; the pairs of one millisecond differ in their random part.
  for (let i = 2; i < ids.length; i += 2) assert.ok(ids[i - 1] < ids[i] && ids[i - 2] < ids[i], `${ids[i - 2]}, ${ids[i - 1]} before ${ids[i]}`);
  assert.ok(Math.abs(parseInt(ids[0].slice(2, 14), 16) - Date.now()) < 5_000);
});
