import type { Command } from "./command.ts";

export const commands: Command[] = [
  {
    name: "up",
    usage: "",
    summary: "run everything locally: nats-server (unless NATS_URL is set) and every service in this process",
    run: async () => (await import("../runner/up.ts")).up(),
  },
];
