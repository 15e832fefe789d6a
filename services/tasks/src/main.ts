/**
 * The tasks process: `tsx services/tasks/src/main.ts [--role api|worker|all]`.
 * Config -> logger -> NATS -> service, then a graceful drain on SIGTERM/SIGINT.
 * Scale the roles apart: any number of API replicas (they share the queue
 * group and elect one scheduler) and any number of workers.
 */
import { Lifecycle, connectNats, createLogger } from "@colmena/runtime";
import { tasksConfig } from "./config.ts";
import { startTasks, type TasksRole } from "./start.ts";

function roleArg(argv: string[]): TasksRole | undefined {
  const i = argv.findIndex((a) => a === "--role" || a.startsWith("--role="));
  if (i < 0) return undefined;
  const v = argv[i].includes("=") ? argv[i].split("=")[1] : argv[i + 1];
  if (v !== "api" && v !== "worker" && v !== "all") {
    console.error(`--role must be api, worker or all, not ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return v;
}

const config = tasksConfig.load();
const role = roleArg(process.argv.slice(2)) ?? config.role;
const log = createLogger({ service: `tasks-${role}`, instance: config.instance, level: config.logLevel });
const life = new Lifecycle(log);
const nc = await connectNats({ servers: config.natsUrl, name: `tasks-${role}-${config.instance}`, log });
life.onClose("nats", () => nc.drain());
const tasks = await startTasks({ nc, log, config, role });
life.onClose("tasks", () => tasks.stop());
life.handleSignals();
