/**
 * A small HTTP endpoint for processes that have no HTTP port of their own
 * (every service but the gateway): `/healthz` (connected to NATS), `/readyz`
 * (in addition, the service's own checks pass) and `/metrics` (Prometheus).
 * Started by a service's main.ts when `COLMENA_HEALTH_PORT` is set.
 */
import { createServer, type Server } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import { metrics } from "./metrics.ts";

export interface HealthServerOptions {
  port: number;
  host?: string;
  nc: NatsConnection;
  ready?: () => Promise<boolean> | boolean;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? "/").split("?")[0];
      const connected = !opts.nc.isClosed() && !opts.nc.isDraining();
      if (path === "/healthz") {
        res.writeHead(connected ? 200 : 503).end(connected ? "ok\n" : "nats disconnected\n");
      } else if (path === "/readyz") {
        const ready = connected && (await Promise.resolve(opts.ready?.() ?? true).catch(() => false));
        res.writeHead(ready ? 200 : 503).end(ready ? "ready\n" : "not ready\n");
      } else if (path === "/metrics") {
        res.writeHead(200, { "content-type": metrics.contentType }).end(await metrics.metrics());
      } else {
        res.writeHead(404).end();
      }
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "::", () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : opts.port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
