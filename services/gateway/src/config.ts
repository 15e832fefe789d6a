/**
 * The gateway's settings (protocol.md section 1), validated once at boot.
 * Every listener binds dual-stack `::` by default; port 0 picks a free port.
 */
import { z } from "zod";
import { DEFAULT_MAX_FRAME_BYTES, bool, commonSettings, defineConfig, int, list, setting, type ConfigOf } from "@colmena/runtime";

const port = (def: number) => int(def).pipe(z.number().min(0).max(65_535));
const positive = (def: number) => int(def).pipe(z.number().min(1));

export const gatewaySettings = {
  ...commonSettings,
  host: setting("COLMENA_HOST", z.string().default("::"), "bind address of every listener (`::` is dual-stack)"),
  tcpPort: setting("COLMENA_TCP_PORT", port(7420), "TCP listener (JSON lines)"),
  tlsPort: setting("COLMENA_TLS_PORT", port(7421), "TLS listener, only when a certificate and key are set"),
  tlsCert: setting("COLMENA_TLS_CERT", z.string().optional(), "PEM certificate file for the TLS listener"),
  tlsKey: setting("COLMENA_TLS_KEY", z.string().optional(), "PEM private key file for the TLS listener"),
  httpPort: setting("COLMENA_HTTP_PORT", port(7480), "HTTP listener: /ws, /healthz, /readyz, /metrics"),
  maxFrameBytes: setting("COLMENA_MAX_FRAME_BYTES", positive(DEFAULT_MAX_FRAME_BYTES), "largest accepted frame, in bytes (also the most an unfinished frame may hold)"),
  frameTimeoutMs: setting("COLMENA_FRAME_TIMEOUT_MS", positive(30_000), "a frame begun but not finished this long closes the connection (`timeout`)"),
  maxConnections: setting("COLMENA_MAX_CONNECTIONS", positive(10_000), "client connections (TCP, TLS, WebSocket) a gateway holds at once"),
  maxConnectionsPerIp: setting("COLMENA_MAX_CONNECTIONS_PER_IP", positive(100), "client connections one source address may hold at once"),
  rateLimit: setting("COLMENA_RATE_LIMIT", positive(1000), "requests per second per connection (burst of as many)"),
  admins: setting("COLMENA_ADMINS", list(), "comma-separated usernames allowed to call sys.* ops"),
  idleTimeoutMs: setting("COLMENA_IDLE_TIMEOUT_MS", positive(300_000), "a connection that sends nothing this long is closed"),
  outbufBytes: setting("COLMENA_OUTBUF_BYTES", positive(4 << 20), "outbound bytes a connection may leave unread before it is dropped"),
  pushSliceMs: setting("COLMENA_PUSH_SLICE_MS", positive(20), "time a gateway spends writing pushes in one turn of its event loop before the rest wait for the next (it keeps reading NATS: src/push-backlog.ts)"),
  pushBacklogBytes: setting("COLMENA_PUSH_BACKLOG_BYTES", positive(64 << 20), "bytes of pushes that may wait for a busy gateway; past it the oldest waiting are dropped (counted)"),
  drainMs: setting("COLMENA_DRAIN_MS", int(10_000).pipe(z.number().min(0)), "on shutdown, how long requests in flight may take to be answered before connections close (protocol.md section 2)"),
  legacyAnonymous: setting("COLMENA_LEGACY_ANONYMOUS", bool(false), "accept legacy task frames without login"),
  webDir: setting("COLMENA_WEB_DIR", z.string().optional(), "serve the web page from this folder at / on the HTTP port (the runner points it at apps/web/dist)"),
  jwtPublicKey: setting("COLMENA_JWT_PUBLIC_KEY", z.string().optional(), "PEM public key (text or file path) for access tokens; default: the keys auth publishes in KV"),
};

export const gatewayConfig = defineConfig(gatewaySettings);
export type GatewayConfig = ConfigOf<typeof gatewaySettings>;
/** Settings a caller may override in code (tests use port 0), by config key. */
export type GatewayOverrides = Partial<{ [K in keyof typeof gatewaySettings]: z.input<(typeof gatewaySettings)[K]["schema"]> }>;
