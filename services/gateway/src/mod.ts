/**
 * The gateway: the TCP, TLS, WebSocket and HTTP edge of Colmena (design.md
 * section 1). It knows the frame protocol, authentication, rate limits and
 * channels, and routes every other op to its service over NATS. Several
 * gateways side by side share nothing but NATS.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { GATEWAY_HEARTBEAT_MS } from "@colmena/protocol";
import { gauge, repoRoot, type Logger } from "@colmena/runtime";
import { Sessions, TokenVerifier } from "./auth.ts";
import { ChannelHub } from "./channels.ts";
import { ConnAnnouncer } from "./conn-announcer.ts";
import { Admission } from "./admission.ts";
import { gatewayConfig, type GatewayConfig, type GatewayOverrides } from "./config.ts";
import { Conn, type Sink, type Transport } from "./connection.ts";
import { Drain } from "./drain.ts";
import { startHttp } from "./http.ts";
import { staticSite } from "./static.ts";
import { HttpRoutes } from "./http-routes.ts";
import { noticeResyncOnNatsDrop } from "./resync.ts";
import { Router } from "./router.ts";
import { startTcp, startTls } from "./tcp.ts";
import { attachWs } from "./ws.ts";

export { gatewayConfig, gatewaySettings } from "./config.ts";
export type { GatewayConfig, GatewayOverrides } from "./config.ts";
export { listServices } from "./sys.ts";
export { wsTextFrame } from "./ws.ts";
export { coreServices } from "@colmena/protocol";

export interface GatewayDeps {
  nc: NatsConnection;
  log: Logger;
  /** Where settings come from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Settings set in code, by config key (tests use `{ tcpPort: 0, httpPort: 0 }`). */
  overrides?: GatewayOverrides;
  /** Interval of the gateway's heartbeat on NATS (default `GATEWAY_HEARTBEAT_MS`; tests use less). */
  heartbeatMs?: number;
}

export interface GatewayPorts {
  tcp: number;
  /** Only when a TLS certificate and key are configured. */
  tls?: number;
  http: number;
}

export interface Gateway {
  /** The ports actually bound (port 0 in the config picks a free one). */
  readonly ports: GatewayPorts;
  /** This gateway instance's id, the prefix of its connection and request ids. */
  readonly id: string;
  readonly config: GatewayConfig;
  /** Open client connections. */
  connections(): number;
  /** True from the start of the drain: `/readyz` answers 503, new requests `unavailable`. */
  readonly draining: boolean;
  /**
   * Drains (protocol.md section 2: `session.closing` to every connection,
   * requests in flight answered, up to `COLMENA_DRAIN_MS`), then stops
   * listening and closes every client connection; the NATS connection stays the caller's.
   */
  stop(): Promise<void>;
}

const connections = gauge("colmena_gateway_connections", "open client connections, by transport", ["transport"]);

function releaseVersion(): string {
  try {
    return String(JSON.parse(readFileSync(join(repoRoot(), "package.json"), "utf8")).version ?? "0.0.0");
  } catch {
    return "0.0.0";
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Starts a gateway on the given NATS connection. */
export async function startGateway(deps: GatewayDeps): Promise<Gateway> {
  const { nc } = deps;
  const config = gatewayConfig.load(deps.env ?? process.env, deps.overrides);
  const id = `gw-${randomBytes(4).toString("hex")}`;
  const log = deps.log.child({ gateway: id });
  const tokens = await TokenVerifier.create(nc, log, config.jwtPublicKey, config.streamReplicas);
  const hub = new ChannelHub(nc, log, { sliceMs: config.pushSliceMs, maxBytes: config.pushBacklogBytes });
  const conns = new Set<Conn>();
  const announcer = new ConnAnnouncer({ nc, gatewayId: id, intervalMs: deps.heartbeatMs ?? GATEWAY_HEARTBEAT_MS, connections: () => conns.size, log });
  const sessions = new Sessions(hub, announcer);
  const drain = new Drain(log);
  const router = new Router({ nc, config, hub, sessions, tokens, log, version: releaseVersion(), drain });
  // A revoked family (logout, refresh-token reuse) logs out the connections it authenticated here.
  tokens.revoked.onRevoked((family) => {
    for (const conn of conns) if (conn.user?.family === family) sessions.unbind(conn, "revoked");
  });

  let stopping = false;
  let seq = 0;
  const open = (transport: Transport, remote: string, sink: Sink): Conn => {
    const conn = new Conn({ id: `${id}-${(++seq).toString(36)}`, transport, remote, sink, rateLimit: config.rateLimit, outbufBytes: config.outbufBytes, log });
    conns.add(conn);
    connections.inc({ transport });
    conn.onClose(() => {
      conns.delete(conn);
      sessions.ended(conn, stopping ? "shutdown" : "disconnect");
      hub.leaveAll(conn);
      connections.dec({ transport });
    });
    log.debug({ conn: conn.id, transport, remote }, "connection opened");
    if (drain.draining) drain.tell(conn, "shutdown");
    return conn;
  };

  let natsUp = !nc.isClosed();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "close") natsUp = false;
      else if (s.type === "reconnect") natsUp = true;
    }
  })().catch(() => (natsUp = false));

  // One set of connection caps for every listener of this gateway.
  const admission = new Admission(config.maxConnections, config.maxConnectionsPerIp);
  const limits = { maxFrameBytes: config.maxFrameBytes, frameTimeoutMs: config.frameTimeoutMs, admission };
  const listenerDeps = { host: config.host, ...limits, router, log, open };
  const servers: Server[] = [];
  const closers: (() => void)[] = [];
  try {
    const tcp = await startTcp({ ...listenerDeps, port: config.tcpPort });
    servers.push(tcp.server);
    let tlsPort: number | undefined;
    if (config.tlsCert && config.tlsKey) {
      const tls = await startTls({ ...listenerDeps, port: config.tlsPort }, config.tlsCert, config.tlsKey);
      servers.push(tls.server);
      tlsPort = tls.port;
    }
    const routes = new HttpRoutes({ nc, log, tokens, admission });
    closers.push(() => routes.close());
    const http = await startHttp({ host: config.host, port: config.httpPort, nc, log, natsUp: () => natsUp && !nc.isClosed(), draining: () => drain.draining, maxConnections: config.maxConnections, routes, site: config.webDir ? staticSite(config.webDir, log) : undefined });
    servers.push(http.server);
    closers.push(attachWs(http.server, { ...limits, router, tokens, sessions, log, open }).close);
    closers.push(() => http.server.closeAllConnections());

    // Idle connections are closed; WebSocket peers are probed with pings, whose pongs count as activity.
    const sweepMs = Math.max(50, Math.min(Math.floor(config.idleTimeoutMs / 3), 30_000));
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const conn of conns) {
        if (now - conn.lastActive > config.idleTimeoutMs) conn.close("idle timeout", false);
        else conn.probe();
      }
    }, sweepMs);
    sweep.unref();
    closers.push(() => clearInterval(sweep));

    const ports: GatewayPorts = { tcp: tcp.port, http: http.port, ...(tlsPort === undefined ? {} : { tls: tlsPort }) };
    announcer.start();
    closers.push(() => announcer.stop());
    const resync = noticeResyncOnNatsDrop(nc, conns, log);
    closers.push(() => resync.stop());
    log.info({ ports, host: config.host }, "gateway listening");
    let stopped: Promise<void> | undefined;
    return {
      ports,
      id,
      config,
      connections: () => conns.size,
      get draining() {
        return drain.draining;
      },
      stop: () =>
        (stopped ??= (async () => {
          // No new TCP/TLS connections; the HTTP listener stays for `/readyz` (503 now) and open WebSockets.
          const [httpServer, ...listeners] = [servers.at(-1)!, ...servers.slice(0, -1)];
          const closedListeners = listeners.map(closeServer);
          await drain.run(conns, "shutdown", config.drainMs);
          stopping = true;
          const closed = [...closedListeners, closeServer(httpServer)];
          for (const conn of [...conns]) conn.close("gateway shutting down", false);
          for (const c of closers) c();
          hub.close();
          tokens.close();
          // The sessions' `closed` announcements leave before the caller closes NATS.
          await nc.flush().catch(() => undefined);
          await Promise.all(closed);
        })()),
    };
  } catch (err) {
    for (const c of closers) c();
    await Promise.all(servers.map(closeServer));
    hub.close();
    tokens.close();
    throw err;
  }
}
