import { defineTaskType, textInput } from "./define.ts";

/** `word_count` (3, contar, palabras): how many runs of non-whitespace the input has. */
export const wordCount = defineTaskType({
  name: "word_count",
  aliases: ["3", "contar", "palabras"],
  parse: textInput,
  run: (s: string) => s.match(/\S+/gu)?.length ?? 0,
  pure: true,
  timeoutMs: () => 10_000,
});
