/**
 * The auth process: config -> logger -> NATS -> auth, and a clean drain on
 * SIGTERM/SIGINT. Run alone: `NATS_URL=nats://127.0.0.1:4222 node --import tsx services/auth/src/main.ts`.
 */
import { Lifecycle, connectNats, createLogger, unknownEnv } from "@colmena/runtime";
import { authConfig } from "./config.ts";
import { startAuth } from "./start.ts";

const config = authConfig.load();
const log = createLogger({ service: "auth", instance: config.instance, level: config.logLevel });
const unknown = unknownEnv();
if (unknown.length) log.warn({ unknown }, "unknown COLMENA_* variables (typos?)");

const lifecycle = new Lifecycle(log);
const nc = await connectNats({ servers: config.natsUrl, name: `auth-${config.instance}`, log });
lifecycle.onClose("nats", () => nc.drain());
lifecycle.handleSignals();
try {
  const auth = await startAuth({ nc, log, config });
  lifecycle.onClose("auth", () => auth.stop());
} catch (err) {
  log.fatal({ err }, "auth failed to start");
  await lifecycle.close();
  process.exit(1);
}
