/** Runs `diag` alone: config -> logger -> NATS -> service, drained on SIGTERM. */
import { Lifecycle, commonConfig, connectNats, createLogger } from "@colmena/runtime";
import { startDiag } from "./mod.ts";

const config = commonConfig.load();
const log = createLogger({ service: "diag", instance: config.instance, level: config.logLevel });
const nc = await connectNats({ servers: config.natsUrl, name: `diag-${config.instance}`, log });
const life = new Lifecycle(log);
life.onClose("nats", () => nc.drain());
const diag = await startDiag({ nc, log });
life.onClose("diag", () => diag.stop());
life.handleSignals();
log.info({ id: diag.id }, "diag ready");
