/**
 * HTTP routes that services answer through the gateway (protocol.md sections
 * 7 and 8: `/v1/files/`, `/v1/share/`, `/v1/tus/`, `/v1/notify/`). A service
 * declares a route here, beside its ops; the gateway matches requests against
 * the declarations, authenticates them, and streams the request to one
 * replica of the service and the response back, with flow control both ways
 * (libs/runtime's HTTP bridge). The gateway holds no code of any route.
 */

/** Who may call a route: anyone (`public`), a valid access token (`user`: else 401), or either (`optional`: a token, when sent, must be valid; the service decides). */
export type HttpAccess = "public" | "user" | "optional";

export type HttpMethod = "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE" | "OPTIONS";

export interface HttpRouteDef {
  /** Unique within its service; names the route's subject (`httpRouteSubject`). */
  name: string;
  service: string;
  methods: readonly HttpMethod[];
  /** The path the route serves: `prefix` alone, or (with `exact: false`, the default) anything under it. The service gets the rest after the prefix. */
  prefix: string;
  exact?: boolean;
  access: HttpAccess;
  /** Also accept the access token as `?token=` (EventSource cannot set headers). */
  tokenQuery?: boolean;
  /** Request headers passed to the service, lower case (beyond those the bridge always passes: content-length, content-type). */
  requestHeaders?: readonly string[];
  /** Whether requests carry a body (PUT, PATCH, POST uploads); bodies sent to a route without one answer 413. */
  body?: boolean;
  /**
   * A response that may stay open indefinitely (Server-Sent Events): no response deadline, only the bridge's liveness check.
   * When no replica can take such a request asking for `text/event-stream`, the gateway answers 200 with `retry:` instead of 503, so an EventSource tries again.
   */
  longLived?: boolean;
  /** Headers on every response of this route, the gateway's own errors included (`Tus-Resumable: 1.0.0`). */
  responseHeaders?: Readonly<Record<string, string>>;
  summary: string;
}

export function defineHttpRoute(def: HttpRouteDef): HttpRouteDef {
  return Object.freeze(def);
}

/** What the service's handler of a route gets: the request, its body as a flow-controlled stream, and who called. */
export interface HttpCall {
  route: string;
  method: HttpMethod;
  /** The rest of the path after the route's prefix, still percent-encoded. */
  path: string;
  query: URLSearchParams;
  /** Lower-case names: the route's `requestHeaders` plus content-length and content-type, when sent. */
  headers: Readonly<Record<string, string>>;
  /** The caller, when the request carried a valid token. */
  user?: { id: string; username: string };
  remoteAddr?: string;
  /** The request body, in bounded chunks, pulled as the handler reads (empty for routes without `body`). */
  body: AsyncIterable<Uint8Array>;
  /** Aborted when the HTTP client goes away or the gateway gives up. */
  signal: AbortSignal;
}

/** The handler's answer: a status, headers, and a body sent as it is produced (an async iterable is pulled only as fast as the client reads). */
export interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string | AsyncIterable<Uint8Array | string>;
}

/** A route's handler, in the service. A thrown ColmenaError answers its HTTP status with `{"error": {code, message}}`. */
export type HttpHandler = (call: HttpCall) => Promise<HttpAnswer>;
