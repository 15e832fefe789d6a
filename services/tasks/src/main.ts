/**
 * The tasks process: `tsx services/tasks/src/main.ts [--role api|worker|all]`.
 * Config -> logger -> NATS -> service, then a graceful drain on SIGTERM/SIGINT.
 * Scale the roles apart: any number of API replicas (they share the queue
 * group and elect one scheduler) and any number of workers.
 */
import { parseArgs } from "node:util";
import { runServiceMain } from "@colmena/runtime";
import { tasksConfig } from "./config.ts";
import { startTasks, type TasksRole } from "./start.ts";

function roleArg(argv: string[]): TasksRole | undefined {
  let v: string | undefined;
  try {
    v = parseArgs({ args: argv, options: { role: { type: "string" } } }).values.role;
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  if (v === undefined) return undefined;
  if (v !== "api" && v !== "worker" && v !== "all") {
    console.error(`--role must be api, worker or all, not ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return v;
}

const config = tasksConfig.load();
const role = roleArg(process.argv.slice(2)) ?? config.role;
await runServiceMain({ name: `tasks-${role}`, config, start: ({ nc, log }) => startTasks({ nc, log, config, role }) });
