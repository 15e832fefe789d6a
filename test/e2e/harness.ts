/**
 * The end-to-end harness: a real nats-server, the local runner's services in
 * this process on ports the OS picks, and clients that speak the wire
 * protocol over TCP or WebSocket, exactly as a user's client would.
 *
 *   await using sys = await startSystem();
 *   const { client } = await sys.user();          // a fresh registered, logged-in user over TCP
 *   const ws = await sys.client({ transport: "ws", codec: "msgpack" });
 *
 * Options: `env` adds to (or overrides) the services' environment, e.g.
 * `{ COLMENA_ADMINS: "root", COLMENA_ACCESS_TTL_S: "2" }`; `services` names the
 * services to start besides the gateway (default: all of the runner's list).
 * Every client the system hands out is closed by `stop()`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaClient, ColmenaError, type ClientOptions, type Codec } from "@colmena/client";
import { connectNats, silentLogger, type Logger } from "@colmena/runtime";
import { startNats, uniqueName, type NatsServer } from "@colmena/testing";
import { endpointUrls, services as runnerServices, startServices, type GatewayPorts, type RunningService } from "@colmena/cli";

/**
 * For `assert.rejects`: the rejection is a ColmenaError with `code` (and a
 * message matching `re`), so a test names the protocol's error, not any throw.
 */
export const isCode = (code: string, re?: RegExp) => (e: unknown) => {
  assert.ok(ColmenaError.is(e), `expected a ColmenaError, got ${String(e)}`);
  assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
  if (re) assert.match(e.message, re);
  return true;
};

export interface SystemOptions {
  /** Extra environment for the services (wins over the harness defaults). */
  env?: Record<string, string>;
  /** Services to start besides the gateway, by name (default: every service of the runner). */
  services?: string[];
  log?: Logger;
}

export interface ClientChoice extends Partial<Omit<ClientOptions, "url">> {
  /** `tcp` (default), `tls` (needs a TLS system) or `ws`. */
  transport?: "tcp" | "tls" | "ws";
  codec?: Codec;
}

export interface TestUser {
  client: ColmenaClient;
  username: string;
  password: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
}

export interface GatewayEndpoints {
  tcpUrl: string;
  /** Only when the system was started with `COLMENA_TLS_CERT` and `COLMENA_TLS_KEY`. */
  tlsUrl?: string;
  wsUrl: string;
  httpUrl: string;
  ports: GatewayPorts;
}

export interface System extends AsyncDisposable {
  nats: NatsServer;
  /** A NATS connection of the test's own (for looking at streams and KV); each service has its own. */
  nc: NatsConnection;
  gateway: GatewayEndpoints;
  /** The environment the services were started with. */
  env: NodeJS.ProcessEnv;
  /** A connected, unauthenticated client. */
  client(choice?: ClientChoice): Promise<ColmenaClient>;
  /** Registers a fresh unique user and returns a client logged in as it. */
  user(choice?: ClientChoice & { prefix?: string; password?: string }): Promise<TestUser>;
  /** Stops one service and starts it again (a gateway comes back on the same ports). */
  restart(name: string): Promise<void>;
  /** Stops one service (e.g. to see `unavailable`). */
  stopService(name: string): Promise<void>;
  /** Stops clients, services, the NATS connection and the server; removes temp files. */
  stop(): Promise<void>;
}

export async function startSystem(opts: SystemOptions = {}): Promise<System> {
  const log = opts.log ?? silentLogger();
  const nats = await startNats();
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-e2e-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NATS_URL: nats.url,
    COLMENA_HOST: "127.0.0.1",
    COLMENA_TCP_PORT: "0",
    COLMENA_TLS_PORT: "0",
    COLMENA_HTTP_PORT: "0",
    COLMENA_DATA_DIR: dataDir,
    COLMENA_LEGACY_ANONYMOUS: "true",
    COLMENA_SCRYPT_N: "1024", // fast password hashing: tests register many users
    COLMENA_INSTANCE: uniqueName("e2e-"),
    COLMENA_FILES_KEY: randomBytes(32).toString("hex"),
    ...opts.env,
  };
  const wanted = opts.services;
  const entries = runnerServices.filter((s) => s.name === "gateway" || !wanted || wanted.includes(s.name));
  let nc: NatsConnection | undefined;
  const clients = new Set<ColmenaClient>();
  const running = new Map<string, RunningService>();
  let started: Awaited<ReturnType<typeof startServices>> | undefined;
  // Each service on a connection of its own, as the runner does.
  const connect = (service: string) => connectNats({ servers: nats.url, name: `e2e-${service}`, log });

  const stop = async () => {
    for (const c of clients) c.close();
    clients.clear();
    for (const [name, s] of [...running].reverse()) {
      try {
        await s.stop();
      } catch (err) {
        log.warn({ err, part: name }, "error while stopping");
      }
    }
    running.clear();
    await nc?.close().catch(() => {});
    await nats.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    nc = await connectNats({ servers: nats.url, name: "e2e", log });
    started = await startServices(entries, { connect, log, env });
  } catch (err) {
    await stop();
    throw err;
  }
  for (const r of started.running) running.set(r.name, r.service);
  const ports = started.gatewayPorts!;
  const urls = endpointUrls({ host: "127.0.0.1", ports });
  const gateway: GatewayEndpoints = { tcpUrl: urls.tcp, tlsUrl: urls.tls, wsUrl: urls.ws, httpUrl: urls.http, ports };

  const client = async (choice: ClientChoice = {}) => {
    const { transport = "tcp", ...rest } = choice;
    const url = transport === "ws" ? gateway.wsUrl : transport === "tls" ? gateway.tlsUrl : gateway.tcpUrl;
    if (!url) throw new Error("this system has no TLS listener: start it with COLMENA_TLS_CERT and COLMENA_TLS_KEY");
    const c = await ColmenaClient.connect({ url, requestTimeoutMs: 15_000, ...rest });
    clients.add(c);
    c.onStatus((s) => s.type === "closed" && clients.delete(c));
    return c;
  };

  const user = async (choice: ClientChoice & { prefix?: string; password?: string } = {}): Promise<TestUser> => {
    const { prefix = "u", password = `pw-${randomBytes(6).toString("hex")}`, ...rest } = choice;
    const username = uniqueName(prefix);
    const c = await client(rest);
    const reg = await c.register(username, password);
    const login = await c.login(username, password);
    return { client: c, username, password, userId: reg.user_id, accessToken: login.access_token, refreshToken: login.refresh_token };
  };

  const stopService = async (name: string) => {
    const s = running.get(name);
    if (!s) throw new Error(`no running service ${name}`);
    running.delete(name);
    await s.stop();
  };

  const restart = async (name: string) => {
    const entry = entries.find((e) => e.name === name);
    if (!entry) throw new Error(`no service ${name} in this system`);
    const old = running.get(name);
    if (old) await stopService(name);
    // A restarted gateway must come back where clients reconnect to.
    const pinned: NodeJS.ProcessEnv =
      name === "gateway" ? { COLMENA_TCP_PORT: String(ports.tcp), COLMENA_HTTP_PORT: String(ports.http), ...(ports.tls ? { COLMENA_TLS_PORT: String(ports.tls) } : {}) } : {};
    const again = await startServices([entry], { connect, log, env: { ...env, ...pinned } });
    running.set(name, again.running[0].service);
  };

  return { nats, nc: nc!, gateway, env, client, user, restart, stopService, stop, [Symbol.asyncDispose]: stop };
}
