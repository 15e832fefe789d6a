/** Runs `diag` alone: config -> logger -> NATS -> service, drained on SIGTERM. */
import { commonConfig, runServiceMain } from "@colmena/runtime";
import { startDiag } from "./mod.ts";

await runServiceMain({ name: "diag", config: commonConfig.load(), start: ({ nc, log }) => startDiag({ nc, log }) });
