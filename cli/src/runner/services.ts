/**
 * Every service the local runner (and the end-to-end harness) starts, in
 * order; the gateway comes last so it opens its ports only once the services
 * behind it answer. Later services plug into the runner by adding one line.
 */
import type { ServiceEntry } from "./start-services.ts";

export const services: ServiceEntry[] = [
  { name: "auth", start: async (d) => (await import("@colmena/auth")).startAuth(d) },
  { name: "diag", start: async (d) => (await import("@colmena/diag")).startDiag(d) },
  { name: "tasks", start: async (d) => (await import("@colmena/tasks")).startTasks(d) },
  { name: "notify", start: async (d) => (await import("@colmena/notify")).startNotify(d) },
  { name: "files", start: async (d) => (await import("@colmena/files")).startFiles(d) },
  { name: "chat", start: async (d) => (await import("@colmena/chat")).startChat(d) },
  { name: "gateway", start: async (d) => (await import("@colmena/gateway")).startGateway(d) },
];
