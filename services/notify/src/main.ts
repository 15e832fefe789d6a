/**
 * The notify process: `tsx services/notify/src/main.ts`. Config -> logger ->
 * NATS -> service, then a graceful drain on SIGTERM/SIGINT. Any number of
 * replicas: they share the op queue group and the work durables.
 */
import { runServiceMain } from "@colmena/runtime";
import { notifyConfig } from "./config.ts";
import { startNotify } from "./start.ts";

const config = notifyConfig.load();
await runServiceMain({ name: "notify", config, start: ({ nc, log }) => startNotify({ nc, log, config }) });
