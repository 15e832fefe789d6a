import { defineTaskType, textInput } from "./define.ts";

/** `reverse` (2, invertir, reversa): the input reversed by Unicode code point, so no surrogate pair is split. */
export const reverse = defineTaskType({
  name: "reverse",
  aliases: ["2", "invertir", "reversa"],
  parse: textInput,
  run: (s: string) => Array.from(s).reverse().join(""),
  pure: true,
  timeoutMs: () => 10_000,
});
