/**
 * The auth process: config -> logger -> NATS -> auth, and a clean drain on
 * SIGTERM/SIGINT. Run alone: `NATS_URL=nats://127.0.0.1:4222 node --import tsx services/auth/src/main.ts`.
 */
import { runServiceMain } from "@colmena/runtime";
import { authConfig } from "./config.ts";
import { startAuth } from "./start.ts";

await runServiceMain({
  name: "auth",
  config: authConfig.load(),
  start: ({ nc, log, config }) => startAuth({ nc, log, config }),
});
