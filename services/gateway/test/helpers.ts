/**
 * Test rig for the gateway: a real nats-server, a diag service behind, one or
 * more gateways on port 0, and raw TCP and WebSocket clients that speak the
 * frame protocol byte for byte (no SDK, so malformed input is possible).
 */
import { connect as netConnect, type Socket } from "node:net";
import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import { WebSocket } from "ws";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNats, type NatsServer, waitUntil } from "@colmena/testing";
import { loadSigningKey, signAccessToken, silentLogger, type SigningKey } from "@colmena/runtime";
import { startDiag, type Diag } from "@colmena/diag";
import { startGateway, type Gateway, type GatewayOverrides } from "@colmena/gateway";

export type Frame = Record<string, any>;

/** A queue of frames that arrive, awaited one at a time or by predicate. */
class Inbox {
  private frames: Frame[] = [];
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];

  push(f: Frame): void {
    const i = this.waiters.findIndex((w) => w.pred(f));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(f);
    else this.frames.push(f);
  }

  /** The first frame (already queued or to come) matching `pred`. */
  take(pred: (f: Frame) => boolean = () => true, timeoutMs = 5000, what = "a frame"): Promise<Frame> {
    const i = this.frames.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (f: Frame) => (clearTimeout(t), resolve(f)) };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${what}; queued: ${JSON.stringify(this.frames).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Everything queued now. */
  drain(): Frame[] {
    return this.frames.splice(0);
  }
}

/** Common to the TCP and WS clients: requests matched by id, events by name. */
export abstract class Client {
  readonly inbox = new Inbox();
  private nextId = 1;
  abstract sendRaw(data: string | Uint8Array): void;
  abstract close(): Promise<void>;
  abstract readonly closed: Promise<void>;

  send(frame: unknown): void {
    this.sendRaw(JSON.stringify(frame));
  }

  async request(op: string, data?: unknown, timeoutMs = 5000): Promise<Frame> {
    const id = this.nextId++;
    this.send(data === undefined ? { id, op } : { id, op, data });
    return this.inbox.take((f) => f.id === id, timeoutMs, `reply to ${op}`);
  }

  reply(id: unknown, timeoutMs = 5000): Promise<Frame> {
    return this.inbox.take((f) => "ok" in f && f.id === id, timeoutMs, `reply ${String(id)}`);
  }

  event(name: string, timeoutMs = 5000): Promise<Frame> {
    return this.inbox.take((f) => f.event === name, timeoutMs, `event ${name}`);
  }

  /** Asserts nothing matching arrives within `ms`. */
  async none(pred: (f: Frame) => boolean, ms = 300): Promise<boolean> {
    try {
      await this.inbox.take(pred, ms);
      return false;
    } catch {
      return true;
    }
  }
}

export class TcpClient extends Client {
  readonly closed: Promise<void>;
  private buf = "";

  private constructor(readonly socket: Socket) {
    super();
    socket.setNoDelay(true);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.inbox.push(JSON.parse(line));
      }
    });
    socket.on("error", () => undefined);
    this.closed = new Promise((r) => socket.once("close", () => r()));
  }

  static open(port: number, host = "127.0.0.1"): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port, host }, () => resolve(new TcpClient(s)));
      s.once("error", reject);
    });
  }

  sendRaw(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? data + "\n" : data);
  }

  async close(): Promise<void> {
    this.socket.destroy();
    await this.closed;
  }
}

export class WsClient extends Client {
  readonly closed: Promise<void>;
  /** Sends frames as MessagePack binary messages. */
  binary = false;
  readonly binaryReplies: boolean[] = [];

  private constructor(readonly ws: WebSocket) {
    super();
    ws.on("message", (data, isBinary) => {
      this.binaryReplies.push(isBinary);
      const buf = data as Buffer;
      this.inbox.push((isBinary ? msgpackDecode(buf) : JSON.parse(buf.toString("utf8"))) as Frame);
    });
    ws.on("error", () => undefined);
    this.closed = new Promise((r) => ws.once("close", () => r()));
  }

  static open(port: number, opts: { token?: string; bearer?: string; host?: string } = {}): Promise<WsClient> {
    const q = opts.token ? `?token=${encodeURIComponent(opts.token)}` : "";
    const ws = new WebSocket(`ws://${opts.host ?? "127.0.0.1"}:${port}/ws${q}`, { headers: opts.bearer ? { Authorization: `Bearer ${opts.bearer}` } : {} });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new WsClient(ws)));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  override send(frame: unknown): void {
    this.sendRaw(this.binary ? msgpackEncode(frame) : JSON.stringify(frame));
  }

  sendRaw(data: string | Uint8Array): void {
    this.ws.send(data, { binary: typeof data !== "string" });
  }

  async close(): Promise<void> {
    this.ws.terminate();
    await this.closed;
  }
}

export interface Rig extends AsyncDisposable {
  ns: NatsServer;
  nc: NatsConnection;
  key: SigningKey;
  gateways: Gateway[];
  gw: Gateway;
  diag?: Diag;
  /** An access token for a user (valid for `ttl` seconds). */
  token(userId: string, username?: string, ttl?: number): Promise<string>;
  tcp(gw?: Gateway, host?: string): Promise<TcpClient>;
  ws(gw?: Gateway, opts?: { token?: string; bearer?: string }): Promise<WsClient>;
  /** A TCP client already authenticated as the user. */
  login(userId: string, username?: string, gw?: Gateway): Promise<TcpClient>;
  stop(): Promise<void>;
}

export interface RigOptions {
  gateways?: number;
  diag?: boolean;
  overrides?: GatewayOverrides;
  env?: NodeJS.ProcessEnv;
  /** The gateways' heartbeat interval on NATS. */
  heartbeatMs?: number;
  /** The nats-server's `max_payload`. */
  natsMaxPayload?: number;
}

/** nats-server + signing key in KV (as auth publishes it) + diag + gateways on port 0, dual-stack. */
export async function startRig(opts: RigOptions = {}): Promise<Rig> {
  const ns = await startNats({ maxPayload: opts.natsMaxPayload });
  const clients: Client[] = [];
  const gateways: Gateway[] = [];
  let nc: NatsConnection | undefined;
  let diag: Diag | undefined;
  const stop = async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await diag?.stop().catch(() => undefined);
    await Promise.all(gateways.map((g) => g.stop()));
    await nc?.close();
    await ns.stop();
  };
  try {
    nc = await connect({ servers: ns.url });
    const key = await loadSigningKey(nc);
    for (let i = 0; i < (opts.gateways ?? 1); i++) {
      // Each gateway gets its own NATS connection, as separate processes would.
      const gnc = await connect({ servers: ns.url });
      const g = await startGateway({ nc: gnc, log: silentLogger(), env: opts.env ?? {}, overrides: { host: "::", tcpPort: 0, httpPort: 0, ...opts.overrides }, heartbeatMs: opts.heartbeatMs });
      const gStop = g.stop;
      gateways.push(Object.assign(g, { stop: async () => { await gStop(); await gnc.close(); } }));
    }
    if (opts.diag ?? true) diag = await startDiag({ nc, log: silentLogger() });
    const rig: Rig = {
      ns,
      nc,
      key,
      gateways,
      gw: gateways[0],
      diag,
      token: (userId, username = userId, ttl = 300) => signAccessToken(key, { userId, username, family: `fam-${userId}` }, ttl),
      tcp: async (gw = gateways[0], host = "127.0.0.1") => {
        const c = await TcpClient.open(gw.ports.tcp, host);
        clients.push(c);
        return c;
      },
      ws: async (gw = gateways[0], o = {}) => {
        const c = await WsClient.open(gw.ports.http, o);
        clients.push(c);
        return c;
      },
      login: async (userId, username = userId, gw = gateways[0]) => {
        const c = await rig.tcp(gw);
        const r = await c.request("auth.token", { access_token: await rig.token(userId, username) });
        if (!r.ok) throw new Error(`login failed: ${JSON.stringify(r)}`);
        return c;
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
    return rig;
  } catch (err) {
    await stop();
    throw err;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `fn` is true or `timeoutMs` passes. */
export const until = (fn: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition") => waitUntil(what, fn, timeoutMs);

/** How many NATS subscriptions the server holds on a subject (monitoring endpoint). */
export async function subsOn(monitorUrl: string, subject: string): Promise<number> {
  const r = await fetch(`${monitorUrl}/subsz?subs=1&limit=10000`);
  const body = (await r.json()) as { subscriptions_list?: { subject: string }[] };
  return (body.subscriptions_list ?? []).filter((s) => s.subject === subject).length;
}
