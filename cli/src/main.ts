/**
 * The `colmena` command: `colmena <command> [args] [--url URL]`.
 * Commands come from the registry in commands/index.ts.
 */
import { ColmenaError } from "@colmena/client";
import { parseArgs, UsageError } from "./args.ts";
import { cliConfig, DEFAULT_URL } from "./config.ts";
import { loadCommands } from "./commands/index.ts";
import type { Command } from "./commands/command.ts";

function usage(commands: Command[]): string {
  const rows = commands.map((c) => `  ${`${c.name} ${c.usage}`.trim().padEnd(34)} ${c.summary}`);
  return [
    "usage: colmena <command> [arguments] [--url URL]",
    "",
    "commands:",
    ...rows,
    "",
    `--url defaults to COLMENA_URL or ${DEFAULT_URL} (tcp://, tls://, ws://HOST:PORT/ws); --codec msgpack with ws://.`,
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const commands = await loadCommands();
  let cmd: Command | undefined;
  try {
    const args = parseArgs(argv, cliConfig.load(), commands.flatMap((c) => (c.options ? [c.options] : [])));
    if (args.command === "help" || args.flags.help) {
      process.stdout.write(usage(commands) + "\n");
      return 0;
    }
    cmd = commands.find((c) => c.name === args.command);
    if (!cmd) throw new UsageError(`unknown command "${args.command}"`);
    return (await cmd.run(args)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`colmena: ${err.message}\n${cmd ? `usage: colmena ${cmd.name} ${cmd.usage}` : usage(commands)}\n`);
      return 2;
    }
    if (err instanceof ColmenaError) {
      process.stderr.write(`colmena: ${err.code}: ${err.message}\n`);
      if (err.details !== undefined) process.stderr.write(JSON.stringify(err.details, null, 2) + "\n");
      return 1;
    }
    process.stderr.write(`colmena: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// `up` keeps running until a signal; every other command ends here.
if (code !== -1) process.exit(code);
