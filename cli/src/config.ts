/** The `colmena` client commands' settings, loaded once in main.ts. */
import { z } from "zod";
import { defineConfig, setting, type ConfigOf } from "@colmena/runtime";

export const DEFAULT_URL = "tcp://127.0.0.1:7420";

export const cliSettings = {
  url: setting("COLMENA_URL", z.string().default(DEFAULT_URL), "the gateway URL the CLI connects to"),
  password: setting("COLMENA_PASSWORD", z.string().optional(), "password for `colmena login` and `register` when --password is not given"),
  httpUrl: setting("COLMENA_HTTP_URL", z.string().optional(), "the gateway's HTTP base URL for `colmena status`"),
  natsMonitorUrl: setting("NATS_MONITOR_URL", z.string().default("http://127.0.0.1:8222"), "a nats-server's monitoring URL for `colmena status` (its /varz and /jsz)"),
};
export const cliConfig = defineConfig(cliSettings);
export type CliConfig = ConfigOf<typeof cliSettings>;
