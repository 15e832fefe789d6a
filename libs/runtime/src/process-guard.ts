/**
 * The last line of defence of a server process (protocol.md section 3: no
 * input may crash a server process). Node ends the process on an unhandled
 * rejection or an uncaught exception; one request's bug must not end every
 * connection and every other request, so these are logged (with a counter
 * for alerting) and the process goes on. Request paths catch their own
 * errors; reaching here is a bug to fix, not a way of handling errors.
 */
import type { Logger } from "pino";
import { counter } from "./metrics.ts";

const escaped = counter("colmena_process_uncaught_total", "errors that escaped every handler (a bug), by kind", ["kind"]);

let installed: Logger | undefined;

/** Installs the handlers once per process; later calls keep the first logger. */
export function installProcessGuard(log: Logger): void {
  if (installed) return;
  installed = log;
  process.on("unhandledRejection", (reason) => {
    escaped.inc({ kind: "unhandledRejection" });
    log.error({ err: reason }, "unhandled promise rejection (a bug); the process goes on");
  });
  process.on("uncaughtException", (err, origin) => {
    escaped.inc({ kind: "uncaughtException" });
    log.error({ err, origin }, "uncaught exception (a bug); the process goes on");
  });
}
