/**
 * The HTTP listener: `/healthz` (200 while connected to NATS), `/readyz` (200
 * when, in addition, every core service answers `$SRV.PING`), `/metrics`
 * (Prometheus text), and WebSocket upgrades at `/ws`.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import { metrics, type Logger } from "@colmena/runtime";
import { coreServices } from "@colmena/protocol";
import { pingServices } from "./sys.ts";
import { listenOn } from "./tcp.ts";
import type { StaticSite } from "./static.ts";

export interface HttpDeps {
  host: string;
  port: number;
  nc: NatsConnection;
  log: Logger;
  /** Whether the gateway's NATS connection is up. */
  natsUp(): boolean;
  /** Open sockets in all (WebSocket ones included; those also count against the gateway's connection caps). */
  maxConnections: number;
  /** The web page's files at `/` (static.ts), when a folder is configured. */
  site?: StaticSite;
}

function send(res: ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store" });
  res.end(text);
}

async function route(deps: HttpDeps, method: string, path: string, res: ServerResponse): Promise<void> {
  if (method !== "GET" && method !== "HEAD") return send(res, 405, { error: "method not allowed" });
  switch (path) {
    case "/healthz":
      return deps.natsUp() ? send(res, 200, { status: "ok" }) : send(res, 503, { status: "nats disconnected" });
    case "/readyz": {
      if (!deps.natsUp()) return send(res, 503, { ready: false, nats: false, services: {} });
      const services = await pingServices(deps.nc, coreServices());
      const ready = Object.values(services).every(Boolean);
      return send(res, ready ? 200 : 503, { ready, nats: true, services });
    }
    case "/metrics":
      return send(res, 200, await metrics.metrics(), metrics.contentType);
    default:
      if (deps.site && (await deps.site(method, path, res))) return;
      return send(res, 404, { error: "not found" });
  }
}

/** Starts the HTTP listener; resolves with the server and its bound port. */
export function startHttp(deps: HttpDeps): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    route(deps, req.method ?? "GET", path, res).catch((err) => {
      deps.log.warn({ err, path }, "http request failed");
      if (!res.headersSent) send(res, 500, { error: "internal" });
      else res.destroy();
    });
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  // Node refuses sockets past this; every held socket costs memory, logged in or not.
  server.maxConnections = deps.maxConnections;
  return listenOn(server, deps.host, deps.port, deps.log).then((port) => ({ server, port }));
}
