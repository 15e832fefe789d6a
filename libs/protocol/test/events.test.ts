import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EVENTS, OPS, findEvent } from "@colmena/protocol";
import { repoRoot } from "@colmena/runtime";

const doc = readFileSync(join(repoRoot(), "docs", "protocol.md"), "utf8");

test("events - every registered event is named <family>.<name>, keyed by its name, summarised, owned by a service with ops", () => {
  const services = new Set(Object.values(OPS).map((d) => d.service));
  for (const [name, def] of Object.entries(EVENTS)) {
    assert.equal(def.event, name);
    assert.match(name, /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$/);
    assert.ok(def.summary.length > 0, `${name} has no summary`);
    assert.ok(services.has(def.service), `${name} names ${def.service}, which answers no op`);
    assert.equal(findEvent(name), def);
  }
  assert.equal(findEvent("toString"), undefined);
  assert.equal(findEvent("task.nonsense"), undefined);
});

test("events - docs/protocol.md lists exactly the events of the registry, each under its service", () => {
  const sections = doc.split(/^## /m).filter((s) => s.startsWith("Events pushed by"));
  const listed = sections.flatMap((s) => {
    const svc = /^Events pushed by `([^`]+)`/.exec(s)![1];
    return [...s.matchAll(/^### `([^`]+)`/gm)].map((m) => `${svc}:${m[1]}`);
  });
  assert.deepEqual(listed.sort(), Object.values(EVENTS).map((d) => `${d.service}:${d.event}`).sort());
});

test("events - an event's data schema takes what its service publishes and refuses a wrong shape", () => {
  assert.equal(EVENTS["task.done"].data.safeParse({ task_id: "t_1", result: "HOLA", worker: "w-1", seq: 3 }).success, true);
  assert.equal(EVENTS["task.progress"].data.safeParse({ task_id: "t_1", progress: 2 }).success, false);
  assert.equal(EVENTS["task.failed"].data.safeParse({ task_id: "t_1" }).success, false);
});
