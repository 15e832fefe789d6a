/** Generic commands: call any op, and listen to events. */
import { flag, UsageError, type Args } from "../args.ts";
import { withClient } from "../connect.ts";
import { printJson, type Command } from "./command.ts";

function dataArg(args: Args, index: number): Record<string, unknown> | undefined {
  const raw = args.positionals[index];
  if (raw === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new UsageError(`not valid JSON: ${raw}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new UsageError("the data must be a JSON object");
  return v as Record<string, unknown>;
}

export const commands: Command[] = [
  {
    name: "call",
    usage: "<op> [json]",
    summary: "send any op (logged in when credentials are stored) and print the reply data as JSON",
    async run(args) {
      const op = args.positionals[0];
      if (!op) throw new UsageError("an op is required, e.g. colmena call ping");
      const data = dataArg(args, 1);
      await withClient(args, "optional", async (client) => printJson(await client.request(op, data)));
    },
  },
  {
    name: "listen",
    usage: "[<op> [json]] [--event NAME]",
    summary: "print pushed events as JSON lines until Ctrl-C; an op given first (e.g. chat.join) runs on the same connection",
    options: { event: { type: "string" } },
    run: (args) =>
      withClient(args, "session", async (client) => {
        const only = flag(args, "event") ?? "*";
        const ended = new Promise<void>((resolve) => {
          client.onStatus((s) => s.type === "closed" && resolve());
          process.once("SIGINT", () => resolve());
          process.once("SIGTERM", () => resolve());
        });
        client.on(only, (_data, frame) => process.stdout.write(JSON.stringify(frame) + "\n"));
        const op = args.positionals[0];
        if (op) printJson(await client.request(op, dataArg(args, 1)));
        process.stderr.write(`listening for ${only === "*" ? "all events" : only} as ${client.session?.username}; Ctrl-C to stop\n`);
        await ended;
      }),
  },
];
