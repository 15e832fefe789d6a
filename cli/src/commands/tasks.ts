/**
 * `colmena tasks ...`: submit, get, list, cancel and watch tasks (protocol.md
 * section 5) as the logged-in user.
 */
import { flag, UsageError, type Args, type Options } from "../args.ts";
import { withClient } from "../connect.ts";
import { printJson, type Command } from "./command.ts";
import { progressView, type ProgressView } from "./task-progress.ts";

const USAGE = [
  "submit <type> <input> [--wait] [--timeout=MS] [--priority=high|normal|low] [--delay=MS] [--attempts=N] [--key=IDEMPOTENCY_KEY]",
  "get <task_id>",
  "list [--status=queued|running|done|failed|cancelled] [--limit=N] [--before=CURSOR]",
  "cancel <task_id>",
  "watch [<task_id>]   (prints task.done / task.failed / task.progress events; with an id, until that task ends)",
].join("\n       colmena tasks ");

const OPTIONS: Options = Object.fromEntries([
  ["wait", { type: "boolean" }],
  ...["priority", "delay", "attempts", "key", "status", "limit", "before"].map((name) => [name, { type: "string" }]),
]);

function intOpt(args: Args, name: string): number | undefined {
  const v = flag(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, not ${v}`);
  return n;
}

function need(args: Args, index: number, what: string): string {
  const v = args.positionals[index];
  if (v === undefined) throw new UsageError(`${what} is required`);
  return v;
}

/** Builds the `tasks.submit` data from the command line. */
export function submitData(args: Args): Record<string, unknown> {
  const data: Record<string, unknown> = { type: need(args, 1, "a task type"), input: need(args, 2, "the input") };
  if (args.flags.wait === true) data.wait = true;
  const fields: [string, string][] = [["timeout", "timeout_ms"], ["delay", "delay_ms"], ["attempts", "max_attempts"]];
  for (const [flag, field] of fields) {
    const n = intOpt(args, flag);
    if (n !== undefined) data[field] = n;
  }
  const priority = flag(args, "priority");
  if (priority) data.priority = priority;
  const key = flag(args, "key");
  if (key) data.idempotency_key = key;
  return data;
}

/**
 * Prints task events: on a terminal progress is a bar per task and the ends
 * are lines above them; elsewhere every event is a JSON line, as before.
 */
function watch(args: Args): Promise<number> {
  const only = args.positionals[1];
  const view: ProgressView | null = process.stdout.isTTY ? progressView(process.stdout) : null;
  return withClient(args, "session", (client) => new Promise<number>((resolve, reject) => {
    let code = 0;
    const end = () => { view?.stop(); resolve(code); };
    for (const event of ["task.done", "task.failed", "task.progress"]) {
      client.on(event, (data, frame) => {
        const d = data as { task_id: string; progress?: number };
        if (only && d.task_id !== only) return;
        if (!view) process.stdout.write(JSON.stringify(frame) + "\n");
        else if (event === "task.progress") view.progress(d.task_id, d.progress ?? 0);
        else { view.end(d.task_id, event === "task.done"); view.line(JSON.stringify(frame)); }
        if (only && event !== "task.progress") {
          code = event === "task.failed" ? 1 : 0;
          end();
        }
      });
    }
    client.onStatus((s) => s.type === "closed" && end());
    process.once("SIGINT", end);
    process.once("SIGTERM", end);
    process.stderr.write(`watching ${only ? `task ${only}` : "your tasks"} as ${client.session?.username}; Ctrl-C to stop\n`);
    // A task that ended before we listened sends no more events: print its record instead.
    if (only) {
      client.request<{ status: string }>("tasks.get", { task_id: only }).then((rec) => {
        if (rec.status === "done" || rec.status === "failed" || rec.status === "cancelled") {
          view?.stop();
          process.stdout.write(JSON.stringify(rec) + "\n");
          code = rec.status === "done" ? 0 : 1;
          end();
        }
      }, reject);
    }
  }));
}

/**
 * `submit --wait`: the reply comes when the task ends, and its id with it, so
 * meanwhile the progress of the user's tasks is shown (a bar each on a
 * terminal, plain lines on stderr otherwise); stdout gets only the result.
 */
async function submitAndWait(args: Args, data: Record<string, unknown>, timeoutMs: number): Promise<void> {
  await withClient(args, "session", async (client) => {
    const view = progressView(process.stderr);
    const onProgress = (d: { task_id: string; progress: number }) => view.progress(d.task_id, d.progress);
    client.on("task.progress", onProgress);
    try {
      const r = await client.request<{ task_id: string; status: string }>("tasks.submit", data, { timeoutMs });
      view.end(r.task_id, r.status === "done");
      view.stop();
      printJson(r);
    } finally {
      client.off("task.progress", onProgress);
      view.stop();
    }
  });
}

export const commands: Command[] = [
  {
    name: "tasks",
    usage: "submit|get|list|cancel|watch ...",
    summary: "durable tasks: submit one, look at them, cancel, or watch their events",
    options: OPTIONS,
    async run(args) {
      const sub = args.positionals[0];
      if (sub === "watch") return watch(args);
      let op: string;
      let data: Record<string, unknown>;
      switch (sub) {
        case "submit":
          op = "tasks.submit";
          data = submitData(args);
          if (data.wait) return submitAndWait(args, data, Number(data.timeout_ms ?? 30_000) + 5_000);
          break;
        case "get":
        case "cancel":
          op = `tasks.${sub}`;
          data = { task_id: need(args, 1, "a task id") };
          break;
        case "list": {
          op = "tasks.list";
          data = {};
          const status = flag(args, "status");
          if (status) data.status = status;
          for (const f of ["limit", "before"]) {
            const n = intOpt(args, f);
            if (n !== undefined) data[f] = n;
          }
          break;
        }
        default:
          throw new UsageError(`usage: colmena tasks ${USAGE}`);
      }
      await withClient(args, "session", async (client) => printJson(await client.request(op, data)));
    },
  },
];
