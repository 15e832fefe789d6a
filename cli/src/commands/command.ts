import type { Args, Options } from "../args.ts";

/** One `colmena` subcommand. `run` resolves with the exit code (0 when it returns nothing). */
export interface Command {
  name: string;
  /** Arguments after the name, e.g. `<user> [--password P]`. */
  usage: string;
  summary: string;
  /** The flags it takes beyond the global ones (`node:util` parseArgs options). */
  options?: Options;
  run(args: Args): Promise<number | void>;
}

/** Prints a value as JSON on stdout. */
export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + "\n");
}
