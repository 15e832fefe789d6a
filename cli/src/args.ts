/**
 * Command-line arguments, parsed by `node:util` `parseArgs`: positionals plus
 * `--flag value`, `--flag=value` and boolean `--flag`. Global options (`--url`,
 * `--codec`, `--timeout`, `--help`) apply to every command; each command
 * declares its own, and a `--flag` no command knows is a usage mistake. A
 * single-dash word other than `-h` stays a positional (`tasks submit sleep -1`).
 */
import { parseArgs as parse, type ParseArgsConfig } from "node:util";
import type { CliConfig } from "./config.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Args {
  command: string;
  positionals: string[];
  flags: Record<string, string | boolean | undefined>;
  /** The gateway URL: `--url`, else `COLMENA_URL`, else `tcp://127.0.0.1:7420`. */
  url: string;
  config: CliConfig;
}

export const GLOBAL_OPTIONS: Options = {
  url: { type: "string" },
  codec: { type: "string" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
};

/** A mistake in how the command was called: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parses `argv` against the global options and every command's (one flag, one meaning). */
export function parseArgs(argv: string[], config: CliConfig, commandOptions: Options[] = []): Args {
  const options: Options = { ...GLOBAL_OPTIONS };
  for (const o of commandOptions) {
    for (const [name, spec] of Object.entries(o)) {
      if (options[name] && options[name].type !== spec.type) throw new Error(`--${name} is declared as both ${options[name].type} and ${spec.type}`);
      options[name] = spec;
    }
  }
  // Not strict, so that `-1` can be a positional; what strict mode would refuse is refused below.
  const { tokens } = parse({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  const positionals: string[] = [];
  const flags: Args["flags"] = {};
  const shortWords = new Set<number>();
  for (const t of tokens) {
    if (t.kind === "positional") positionals.push(t.value);
    else if (t.kind === "option") {
      const spec = options[t.name];
      if (!spec || (t.rawName.length === 2 && spec.short !== t.rawName[1])) {
        if (t.rawName.startsWith("--")) throw new UsageError(`unknown option ${t.rawName}`);
        // A single-dash word: kept whole, once, as a positional.
        if (!shortWords.has(t.index)) positionals.push(argv[t.index]);
        shortWords.add(t.index);
      } else if (spec.type === "string") {
        if (t.value === undefined) throw new UsageError(`${t.rawName} needs a value`);
        flags[t.name] = t.value;
      } else {
        if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value`);
        flags[t.name] = true;
      }
    }
  }
  const command = positionals.shift() ?? "help";
  return { command, positionals, flags, url: flag({ flags }, "url") ?? config.url, config };
}

export function flag(args: Pick<Args, "flags">, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === "string" ? v : undefined;
}
