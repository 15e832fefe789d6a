/**
 * The composition root every service process shares: config -> logger ->
 * NATS -> the service -> health endpoint, drained in reverse on SIGTERM/SIGINT.
 * A service's main.ts is then one call (style.md: a linear composition root).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { unknownEnv, type CommonConfig } from "./config.ts";
import { connectNats } from "./connect.ts";
import { startHealthServer } from "./health-server.ts";
import { Lifecycle } from "./lifecycle.ts";
import { createLogger, type Logger } from "./logger.ts";
import { installProcessGuard } from "./process-guard.ts";

export interface Stoppable {
  stop(): Promise<void>;
}

export interface ServiceMainOptions<C extends CommonConfig> {
  /** The process's name in logs and in its NATS connection name. */
  name: string;
  config: C;
  start(deps: { nc: NatsConnection; log: Logger; config: C }): Promise<Stoppable>;
  /** Extra readiness check for `/readyz` (NATS connectivity is always checked). */
  ready?: () => Promise<boolean> | boolean;
}

export async function runServiceMain<C extends CommonConfig>(opts: ServiceMainOptions<C>): Promise<void> {
  const { config } = opts;
  const log = createLogger({ service: opts.name, instance: config.instance, level: config.logLevel });
  installProcessGuard(log);
  const unknown = unknownEnv();
  if (unknown.length) log.warn({ unknown }, "unknown COLMENA_* variables (typos?)");
  const lifecycle = new Lifecycle(log);
  lifecycle.handleSignals();
  const nc = await connectNats({ servers: config.natsUrl, name: `${opts.name}-${config.instance}`, log, user: config.natsUser, pass: config.natsPassword });
  lifecycle.onClose("nats", () => nc.drain());
  try {
    const running = await opts.start({ nc, log, config });
    lifecycle.onClose(opts.name, () => running.stop());
    if (config.healthPort !== undefined) {
      const health = await startHealthServer({ port: config.healthPort, nc, ready: opts.ready });
      lifecycle.onClose("health", () => health.close());
      log.info({ port: health.port }, "health endpoint listening");
    }
    log.info(`${opts.name} process started`);
  } catch (err) {
    log.fatal({ err }, `${opts.name} failed to start`);
    await lifecycle.close();
    process.exit(1);
  }
}
