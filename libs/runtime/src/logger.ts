import { pino, type Logger } from "pino";

export type { Logger };

/** The process logger: JSON lines on stderr, one `service` and `instance` on every line; `level` from the config (`COLMENA_LOG_LEVEL`). */
export function createLogger(opts: { service: string; instance?: string; level: string }): Logger {
  return pino({
    level: opts.level,
    base: { service: opts.service, instance: opts.instance },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, pino.destination(2));
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
