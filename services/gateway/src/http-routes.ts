/**
 * The services' HTTP routes on the gateway's HTTP port (libs/protocol/src/http):
 * a request is matched against the declared routes, authenticated as its
 * route says, counted against the connection caps, and bridged to one
 * replica of the route's service (libs/runtime's HTTP bridge). Only what the
 * route declares crosses: its request headers (plus content-length and
 * content-type), the caller and the remote address. This file knows no route:
 * everything comes from the declarations.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, httpRouteSubject, matchHttpRoute, type HttpMethod, type HttpRouteDef } from "@colmena/protocol";
import { HttpBridgeClient, SSE_UNAVAILABLE_RETRY_MS, counter, errorAnswer, writeHttpError, type Liveness, type Logger } from "@colmena/runtime";
import { REFUSED_RETRY_MS, sourceOf, type Admission } from "./admission.ts";
import type { TokenVerifier } from "./auth.ts";

export interface HttpRoutesDeps {
  nc: NatsConnection;
  log: Logger;
  tokens: TokenVerifier;
  admission: Admission;
  /** The bridge's keepalive and deadline (tests shorten them). */
  liveness?: Liveness;
}

const requests = counter("colmena_gateway_http_requests_total", "requests to services' HTTP routes, by route and status", ["route", "status"]);

const METHODS: HttpMethod[] = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"];

/** Headers always passed to the service, whatever the route declares. */
const ALWAYS = ["content-length", "content-type"];

const bearer = (req: IncomingMessage): string | undefined => {
  const m = req.headers.authorization ? /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization) : null;
  return m ? m[1] : undefined;
};

/** An EventSource's request: a long-lived route asked for Server-Sent Events. A 503 would stop it for good. */
const wantsEventStream = (req: IncomingMessage, route: HttpRouteDef) => route.longLived === true && /\btext\/event-stream\b/i.test(req.headers.accept ?? "");

/** Whether a request carries a body (HTTP/1.1: a non-zero Content-Length, or Transfer-Encoding). */
const hasBody = (req: IncomingMessage) => req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;

function passedHeaders(req: IncomingMessage, route: HttpRouteDef): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [...ALWAYS, ...(route.requestHeaders ?? [])]) {
    const v = req.headers[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

export class HttpRoutes {
  private readonly bridge: HttpBridgeClient;

  constructor(private readonly deps: HttpRoutesDeps) {
    this.bridge = new HttpBridgeClient(deps.nc, deps.log, deps.liveness);
  }

  /**
   * Serves the request if a declared route serves its path; false otherwise
   * (the listener's own paths, or its 404). `rawPath` is as the client sent
   * it, not normalised: a `..` reaches the service, which refuses it.
   */
  serve(req: IncomingMessage, res: ServerResponse, rawPath: string, rawQuery: string): boolean {
    const method = req.method ?? "GET";
    const route = matchHttpRoute(method, rawPath);
    if (route === undefined) return false;
    if (route === "methodMismatch") {
      const allowed = METHODS.filter((m) => typeof matchHttpRoute(m, rawPath) === "object");
      const other = matchHttpRoute(allowed[0], rawPath) as HttpRouteDef;
      writeHttpError(res, new ColmenaError("bad_request", `${method} is not allowed on ${rawPath.slice(0, 200)}`), { ...other.responseHeaders, Allow: allowed.join(", ") }, 405);
      requests.inc({ route: "none", status: "405" });
      return true;
    }
    const label = `${route.service}.${route.name}`;
    this.call(req, res, route, rawPath, rawQuery)
      .then((status) => requests.inc({ route: label, status: String(status || "cut") }))
      .catch((err) => {
        this.deps.log.warn({ err, route: label }, "http route failed");
        writeHttpError(res, new ColmenaError("internal", "internal error"), route.responseHeaders);
        requests.inc({ route: label, status: "500" });
      });
    return true;
  }

  private async call(req: IncomingMessage, res: ServerResponse, route: HttpRouteDef, rawPath: string, rawQuery: string): Promise<number> {
    const extra = { ...(route.responseHeaders ?? {}) };
    const refuse = (err: ColmenaError, more: Record<string, string> = {}) => {
      writeHttpError(res, err, { ...extra, ...more });
      // The body is not read: close the connection rather than drain an upload nobody wants.
      if (hasBody(req)) res.shouldKeepAlive = false;
      return errorAnswer(err).status;
    };
    if (!route.body && hasBody(req)) return refuse(new ColmenaError("frame_too_large", `${route.prefix} takes no request body`));
    const query = new URLSearchParams(rawQuery);
    const token = bearer(req) ?? (route.tokenQuery ? (query.get("token") ?? undefined) : undefined);
    if (route.tokenQuery) query.delete("token");
    let user: { id: string; username: string } | undefined;
    if (route.access !== "public" && token !== undefined) {
      try {
        const claims = await this.deps.tokens.verify(token);
        user = { id: claims.userId, username: claims.username };
      } catch (err) {
        return refuse(err instanceof ColmenaError ? err : new ColmenaError("unauthorized", "invalid token"), { "WWW-Authenticate": "Bearer" });
      }
    }
    if (route.access === "user" && !user) return refuse(new ColmenaError("unauthorized", "an access token is required (Authorization: Bearer <access_token>)"), { "WWW-Authenticate": "Bearer" });
    // A call in flight holds a connection slot, as a WebSocket does: a held stream costs the same.
    const slot = this.deps.admission.admit(req.socket.remoteAddress);
    if (!slot.ok) return refuse(new ColmenaError("rate_limited", slot.reason, { retryAfterMs: REFUSED_RETRY_MS }));
    try {
      return await this.bridge.call({
        subject: httpRouteSubject(route.service, route.name),
        start: {
          route: route.name,
          method: req.method as HttpMethod,
          path: rawPath.slice(route.prefix.length),
          query: query.toString(),
          headers: passedHeaders(req, route),
          user,
          remoteAddr: sourceOf(req.socket.remoteAddress),
          body: route.body === true && hasBody(req),
        },
        req,
        res,
        headers: extra,
        sseRetryMs: wantsEventStream(req, route) ? SSE_UNAVAILABLE_RETRY_MS : undefined,
      });
    } finally {
      slot.release();
    }
  }

  close(): void {
    this.bridge.close();
  }
}
