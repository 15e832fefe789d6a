/**
 * The files process: `tsx services/files/src/main.ts`. Config -> logger ->
 * NATS -> service, then a graceful drain on SIGTERM/SIGINT.
 */
import { runServiceMain } from "@colmena/runtime";
import { filesConfig } from "./config.ts";
import { startFiles } from "./start.ts";

const config = filesConfig.load();
await runServiceMain({ name: "files", config, start: ({ nc, log }) => startFiles({ nc, log, config }) });
