/**
 * `colmena notify ...`: subscribe, unsubscribe, publish, inbox, read and
 * watch notifications (protocol.md section 8) as the logged-in user.
 */
import { flag, UsageError, type Args, type Options } from "../args.ts";
import { withClient } from "../connect.ts";
import { printJson, type Command } from "./command.ts";

const USAGE = [
  "subscribe <pattern> [--email=ADDRESS] [--digest=SECONDS]   (`*` one token, `>` the rest)",
  "unsubscribe <pattern>",
  "subscriptions",
  "publish <topic> <title> [<body>]",
  "inbox [--since=ID|MS] [--limit=N] [--unread]",
  "read <notification_id>...",
  "watch   (prints notify.event events, each notification once)",
].join("\n       colmena notify ");

const OPTIONS: Options = { unread: { type: "boolean" }, email: { type: "string" }, digest: { type: "string" }, since: { type: "string" }, limit: { type: "string" } };

function arg(args: Args, index: number, what: string): string {
  const v = args.positionals[index];
  if (v === undefined) throw new UsageError(`${what} is required`);
  return v;
}

function int(args: Args, name: string): number | undefined {
  const v = flag(args, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number, not ${v}`);
  return Number(v);
}

/** The op and data of a subcommand other than `watch`. */
export function notifyRequest(args: Args): { op: string; data: Record<string, unknown> } {
  const sub = args.positionals[0];
  switch (sub) {
    case "subscribe": {
      const email = flag(args, "email");
      const digest = int(args, "digest");
      return { op: "notify.subscribe", data: { topic: arg(args, 1, "a pattern"), ...(email ? { channels: ["push", "email"], email } : {}), ...(digest !== undefined ? { digest_s: digest } : {}) } };
    }
    case "unsubscribe":
      return { op: "notify.unsubscribe", data: { topic: arg(args, 1, "a pattern") } };
    case "subscriptions":
      return { op: "notify.subscriptions", data: {} };
    case "publish": {
      const body = args.positionals[3];
      return { op: "notify.publish", data: { topic: arg(args, 1, "a topic"), title: arg(args, 2, "a title"), ...(body !== undefined ? { body } : {}) } };
    }
    case "inbox": {
      const since = flag(args, "since");
      const limit = int(args, "limit");
      return { op: "notify.inbox", data: {
        ...(since !== undefined ? { since: /^\d+$/.test(since) ? Number(since) : since } : {}),
        ...(limit !== undefined ? { limit } : {}), ...(args.flags.unread === true ? { unread_only: true } : {}),
      } };
    }
    case "read": {
      const ids = args.positionals.slice(1);
      if (ids.length === 0) throw new UsageError("a notification id is required");
      return { op: "notify.read", data: { notification_ids: ids } };
    }
    default:
      throw new UsageError(`usage: colmena notify ${USAGE}`);
  }
}

function watch(args: Args): Promise<number> {
  return withClient(args, "session", (client) => new Promise<number>((resolve) => {
    // The SDK drops the repeats a redone fan-out pushes (libs/client notify-repeats.ts).
    client.on("notify.event", (_data, frame) => {
      process.stdout.write(JSON.stringify(frame) + "\n");
    });
    client.onStatus((s) => s.type === "closed" && resolve(0));
    process.once("SIGINT", () => resolve(0));
    process.once("SIGTERM", () => resolve(0));
    process.stderr.write(`watching notifications of ${client.session?.username}; Ctrl-C to stop\n`);
  }));
}

export const commands: Command[] = [
  {
    name: "notify",
    usage: "subscribe|unsubscribe|subscriptions|publish|inbox|read|watch ...",
    summary: "notifications: subscribe to topics, publish, read your inbox, or watch them arrive",
    options: OPTIONS,
    async run(args) {
      if (args.positionals[0] === "watch") return watch(args);
      const { op, data } = notifyRequest(args);
      await withClient(args, "session", async (client) => printJson(await client.request(op, data)));
    },
  },
];
