/** The local runner's own settings (the services read theirs from the same environment). */
import { z } from "zod";
import { commonSettings, defineConfig, int, localSettings, logLevel, setting, type ConfigOf } from "@colmena/runtime";

const port = (def: number) => int(def).pipe(z.number().min(0).max(65_535));

export const runnerSettings = {
  ...localSettings,
  natsUrl: setting("NATS_URL", z.string().optional(), "a running NATS server to use instead of starting one"),
  // With NATS_URL, the user every service connects as (the runner's own server has one per service).
  natsUser: commonSettings.natsUser,
  natsPassword: commonSettings.natsPassword,
  natsPort: setting("COLMENA_NATS_PORT", port(4222), "client port of the nats-server the runner starts (0: any free port)"),
  natsMonitorPort: setting("COLMENA_NATS_MONITOR_PORT", port(8222), "monitoring port of that nats-server (0: any free port)"),
  // The services log JSON; warnings and errors only, unless asked for more.
  logLevel: setting("COLMENA_LOG_LEVEL", logLevel("warn"), "log level of the runner and the services it runs"),
  host: setting("COLMENA_HOST", z.string().optional(), "the gateway's bind address (printed with the endpoints)"),
};
export const runnerConfig = defineConfig(runnerSettings);
export type RunnerConfig = ConfigOf<typeof runnerSettings>;
