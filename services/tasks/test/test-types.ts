/** Task types that only tests register: they fail, hang or refuse on purpose. */
import { setTimeout as delay } from "node:timers/promises";
import { ColmenaError } from "@colmena/protocol";
import { defineTaskType, type TaskType } from "@colmena/tasks";

const anyInput = (v: unknown) => v;

/** Throws on attempts up to `input` (a number), then answers "ok". */
export const flaky = defineTaskType({
  name: "flaky",
  aliases: [],
  parse: (v) => Number(v),
  run: (n: number, ctx) => {
    if (ctx.attempt <= n) throw new Error(`flaky failure on attempt ${ctx.attempt}`);
    return "ok";
  },
  timeoutMs: () => 5000,
});

/** Always throws. */
export const boom = defineTaskType({
  name: "boom",
  aliases: [],
  parse: anyInput,
  run: () => { throw new Error("kaboom"); },
  timeoutMs: () => 5000,
});

/** Never finishes by itself; its timeout is 300 ms. */
export const hang = defineTaskType({
  name: "hang",
  aliases: [],
  parse: anyInput,
  run: async (_v, ctx) => { await delay(3_600_000, undefined, { signal: ctx.signal }); },
  timeoutMs: () => 300,
});

/** Fails with an error that must not be retried. */
export const refuse = defineTaskType({
  name: "refuse",
  aliases: [],
  parse: anyInput,
  run: () => { throw new ColmenaError("bad_request", "this input can never work"); },
  timeoutMs: () => 5000,
});

/** Records the order in which tasks ran (input = a label). */
export const ranOrder: string[] = [];
export const record = defineTaskType({
  name: "record",
  aliases: [],
  parse: (v) => String(v),
  run: async (label: string) => { ranOrder.push(label); await delay(20); return label; },
  timeoutMs: () => 5000,
});

export const TEST_TYPES: TaskType[] = [flaky, boom, hang, refuse, record] as TaskType[];
