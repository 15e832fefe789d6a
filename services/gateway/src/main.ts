/** Runs one gateway: config -> logger -> NATS -> gateway, drained on SIGTERM. */
import { Lifecycle, connectNats, createLogger, installProcessGuard, unknownEnv } from "@colmena/runtime";
import { gatewayConfig, startGateway } from "./mod.ts";

const config = gatewayConfig.load();
const log = createLogger({ service: "gateway", instance: config.instance, level: config.logLevel });
installProcessGuard(log);
for (const name of unknownEnv()) log.warn({ env: name }, "unknown COLMENA_* variable");
const nc = await connectNats({ servers: config.natsUrl, name: `gateway-${config.instance}`, log, user: config.natsUser, pass: config.natsPassword });
const life = new Lifecycle(log);
life.onClose("nats", () => nc.drain());
const gateway = await startGateway({ nc, log });
life.onClose("gateway", () => gateway.stop());
life.handleSignals();
log.info({ id: gateway.id, ports: gateway.ports }, "gateway ready");
