/** The local runner's own settings (the services read theirs from the same environment). */
import { z } from "zod";
import { defineConfig, int, setting } from "@colmena/runtime";

const port = (def: number) => int(def).pipe(z.number().min(0).max(65_535));

export const runnerConfig = defineConfig({
  natsPort: setting("COLMENA_NATS_PORT", port(4222), "client port of the nats-server the runner starts (0: any free port)"),
  natsMonitorPort: setting("COLMENA_NATS_MONITOR_PORT", port(8222), "monitoring port of that nats-server (0: any free port)"),
  natsInstall: setting("COLMENA_NATS_INSTALL", z.enum(["auto", "never"]).default("auto"), "`never` stops the runner fetching nats-server from Debian"),
  url: setting("COLMENA_URL", z.string().optional(), "the gateway URL the CLI connects to"),
  password: setting("COLMENA_PASSWORD", z.string().optional(), "password for `colmena login` and `register` when --password is not given"),
  httpUrl: setting("COLMENA_HTTP_URL", z.string().optional(), "the gateway's HTTP base URL for `colmena status`"),
});
export type RunnerConfig = ReturnType<typeof runnerConfig.load>;
