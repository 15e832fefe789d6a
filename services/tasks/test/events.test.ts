import { test } from "node:test";
import assert from "node:assert/strict";
import type { z } from "zod";
import { Headers, findEvent, pushSubject, userChannel } from "@colmena/protocol";
import { startNats } from "@colmena/testing";
import { call, eventually, tasksFixture } from "./helpers.ts";
import { TEST_TYPES } from "./test-types.ts";

test("tasks events - every push to the submitter is a registered event whose data its schema takes exactly", async () => {
  await using ns = await startNats();
  await using fx = await tasksFixture(ns.url);
  await fx.start({ role: "all", extraTypes: TEST_TYPES });
  // What the gateways get for the submitter's connections, checked against libs/protocol EVENTS.
  const pushes: { event: string; data: Record<string, unknown> }[] = [];
  const problems: string[] = [];
  const sub = fx.nc.subscribe(pushSubject(userChannel("u1")), {
    callback: (_e, m) => {
      const event = m.headers?.get(Headers.event) ?? "";
      const data = m.json<Record<string, unknown>>();
      const def = findEvent(event);
      if (!def) problems.push(`unregistered event ${event}`);
      else {
        // strict: a field the schema does not list is a drift between the service and the protocol.
        const r = (def.data as unknown as z.ZodObject).strict().safeParse(data);
        if (!r.success) problems.push(`${event}: ${r.error.message}`);
      }
      pushes.push({ event, data });
    },
  });
  await fx.nc.flush();

  const done = await call(fx.nc, "tasks.submit", { type: "uppercase", input: "hola", wait: true });
  const slept = await call(fx.nc, "tasks.submit", { type: "sleep", input: 1.2, wait: true });
  const failed = await call(fx.nc, "tasks.submit", { type: "boom", input: "x", wait: true, max_attempts: 1 }).catch((e) => e.details as { task_id: string });
  const seen = (event: string, taskId: string) => pushes.some((p) => p.event === event && p.data.task_id === taskId);
  await eventually("the three kinds of event", () => (seen("task.done", done.task_id) && seen("task.progress", slept.task_id) && seen("task.failed", failed.task_id) ? true : undefined));
  sub.unsubscribe();
  assert.deepEqual(problems, []);
  const { seq, ...doneData } = pushes.find((p) => p.event === "task.done" && p.data.task_id === done.task_id)!.data;
  assert.deepEqual(doneData, { task_id: done.task_id, result: "HOLA", worker: done.worker });
  assert.ok(Number.isInteger(seq) && (seq as number) > 0, "task.done carries the stream sequence of its done event");
});
