/** The chat process: `tsx services/chat/src/main.ts`. Config -> logger -> NATS -> service, then a graceful drain on SIGTERM/SIGINT. */
import { runServiceMain } from "@colmena/runtime";
import { chatConfig } from "./config.ts";
import { startChat } from "./start.ts";

const config = chatConfig.load();
await runServiceMain({ name: "chat", config, start: ({ nc, log }) => startChat({ nc, log, config }) });
