import { defineTaskType, textInput } from "./define.ts";

/** `uppercase` (1, mayus, upper): the input in upper case. */
export const uppercase = defineTaskType({
  name: "uppercase",
  aliases: ["1", "mayus", "upper"],
  parse: textInput,
  run: (s: string) => s.toUpperCase(),
  pure: true,
  timeoutMs: () => 10_000,
});
