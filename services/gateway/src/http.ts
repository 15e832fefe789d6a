/**
 * The HTTP listener: `/healthz` (200 while connected to NATS), `/readyz` (200
 * when, in addition, every core service answers `$SRV.PING`), `/metrics`
 * (Prometheus text), WebSocket upgrades at `/ws`, and the services' declared
 * HTTP routes (http-routes.ts). Unknown paths answer the protocol's 404.
 */
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { NatsConnection } from "@nats-io/transport-node";
import { errorAnswer, metrics, writeHttpError, type Logger } from "@colmena/runtime";
import { ColmenaError, coreServices } from "@colmena/protocol";
import type { HttpRoutes } from "./http-routes.ts";
import { endWithAnswer } from "./socket-answer.ts";
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
  /** The gateway is draining: not ready, so a load balancer stops sending connections. */
  draining(): boolean;
  /** Open sockets in all (WebSocket ones included; those also count against the gateway's connection caps). */
  maxConnections: number;
  /** The services' HTTP routes. */
  routes: HttpRoutes;
  /** The web page's files at `/` (static.ts), when a folder is configured. */
  site?: StaticSite;
}

function send(res: ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store" });
  res.end(text);
}

async function route(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  if (deps.routes.serve(req, res, path, q < 0 ? "" : url.slice(q + 1))) return;
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") {
    return writeHttpError(res, new ColmenaError("bad_request", `${method} is not allowed here`), { Allow: "GET, HEAD" }, 405);
  }
  switch (path) {
    case "/healthz":
      return deps.natsUp() ? send(res, 200, { status: "ok" }) : send(res, 503, { status: "nats disconnected" });
    case "/readyz": {
      if (deps.draining()) return send(res, 503, { ready: false, draining: true });
      if (!deps.natsUp()) return send(res, 503, { ready: false, nats: false, services: {} });
      const services = await pingServices(deps.nc, coreServices());
      const ready = Object.values(services).every(Boolean);
      return send(res, ready ? 200 : 503, { ready, nats: true, services });
    }
    case "/metrics":
      return send(res, 200, await metrics.metrics(), metrics.contentType);
    default:
      if (deps.site && (await deps.site(method, path, res))) return;
      return writeHttpError(res, new ColmenaError("not_found", "no such path"));
  }
}

/** Starts the HTTP listener; resolves with the server and its bound port. */
export function startHttp(deps: HttpDeps): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    route(deps, req, res).catch((err) => {
      deps.log.warn({ err, url: req.url?.slice(0, 200) }, "http request failed");
      writeHttpError(res, new ColmenaError("internal", "internal error"));
    });
  });
  server.on("clientError", answerUnparsable);
  // Node refuses sockets past this; every held socket costs memory, logged in or not.
  server.maxConnections = deps.maxConnections;
  return listenOn(server, deps.host, deps.port, deps.log).then((port) => ({ server, port }));
}

/**
 * A request Node's parser refused (headers past its 16 KiB, a malformed
 * request line, a request that took too long): the protocol's JSON error, as
 * the other refusals, then the connection closed (`endWithAnswer`). Node's
 * own answer without this listener is a bare status line; a socket already
 * answering, or gone, is only destroyed.
 */
function answerUnparsable(err: Error & { code?: string }, socket: Duplex): void {
  const answering = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage?.headersSent;
  if (err.code === "ECONNRESET" || !socket.writable || answering) {
    socket.destroy();
    return;
  }
  const [status, error] =
    err.code === "HPE_HEADER_OVERFLOW" ? [431, new ColmenaError("frame_too_large", "request headers too large")]
    : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, new ColmenaError("timeout", "request not received in time")]
    : [400, new ColmenaError("bad_request", "malformed HTTP request")];
  const a = errorAnswer(error);
  endWithAnswer(socket, status, STATUS_CODES[status]!, a.headers, a.body);
}
