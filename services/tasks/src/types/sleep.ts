import { setTimeout as delay } from "node:timers/promises";
import { badRequest } from "@colmena/protocol";
import { defineTaskType } from "./define.ts";

const MAX_SECONDS = 60;

/**
 * `sleep` (4, espera, delay): waits `input` seconds (0-60, a number or a
 * numeric string), reporting progress each second; gives the seconds slept.
 */
export const sleep = defineTaskType({
  name: "sleep",
  aliases: ["4", "espera", "delay"],
  parse(input: unknown): number {
    const n = typeof input === "number" ? input : typeof input === "string" && input.trim() !== "" ? Number(input) : NaN;
    if (!Number.isFinite(n) || n < 0 || n > MAX_SECONDS) {
      throw badRequest(`sleep takes a number of seconds from 0 to ${MAX_SECONDS}`, [{ path: "input", message: "a number from 0 to 60" }]);
    }
    return n;
  },
  async run(seconds: number, ctx) {
    const end = Date.now() + seconds * 1000;
    // Sleep to the next whole second each time, so progress comes once a second and drift does not add up.
    for (let left = end - Date.now(); left > 0; left = end - Date.now()) {
      await delay(Math.min(1000, left), undefined, { signal: ctx.signal });
      if (seconds > 0) ctx.progress(Math.min(1, 1 - (end - Date.now()) / (seconds * 1000)));
    }
    return seconds;
  },
  pure: true,
  timeoutMs: (seconds: number) => seconds * 1000 + 15_000,
});
