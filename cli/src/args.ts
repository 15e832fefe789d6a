/**
 * Command-line arguments: positionals plus `--flag value`, `--flag=value` and
 * boolean `--flag`. Global flags (`--url`, `--codec`) apply to every command.
 */
export interface Args {
  command: string;
  positionals: string[];
  flags: Record<string, string | boolean>;
  /** The gateway URL: `--url`, else `COLMENA_URL`, else `tcp://127.0.0.1:7420`. */
  url: string;
}

/** Flags that take a value; every other `--name` is a boolean. */
const VALUE_FLAGS = new Set(["url", "password", "http", "codec", "timeout", "event", "home"]);

export const DEFAULT_URL = "tcp://127.0.0.1:7420";

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Args {
  const positionals: string[] = [];
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--") && a.length > 2) {
      const eq = a.indexOf("=");
      const name = a.slice(2, eq === -1 ? undefined : eq);
      if (eq !== -1) flags[name] = a.slice(eq + 1);
      else if (VALUE_FLAGS.has(name)) {
        if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
        flags[name] = argv[++i];
      } else flags[name] = true;
    } else if (a === "-h") flags.help = true;
    else positionals.push(a);
  }
  const command = positionals.shift() ?? "help";
  const url = typeof flags.url === "string" ? flags.url : env.COLMENA_URL || DEFAULT_URL;
  return { command, positionals, flags, url };
}

export function flag(args: Args, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === "string" ? v : undefined;
}

/** A mistake in how the command was called: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
