/**
 * The compose services as an operator runs them, without docker (issue 16
 * items 4 and 5): each Colmena service of docker-compose.yml as local OS
 * processes with its own command and environment (NATS_URL pointed at a
 * local 3-node cluster, the data volume at a temp dir, ports picked free),
 * any number of replicas of each, and a mixed client load (tasks with wait,
 * chat, files, notify, auth) whose every answer and failure is recorded
 * with its time, so a test can say which failed and when.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ColmenaClient, ColmenaError } from "@colmena/client";
import { freePort, startNatsCluster, uniqueName, waitUntil, type NatsCluster } from "@colmena/testing";
import { interpolate, killAll, readCompose, spawnService, type ComposeService, type ServiceProcess } from "./processes.ts";

/** Gateway TCP ports the clients know in advance: replicas started later take the next free one of these. */
const GATEWAY_SLOTS = 6;

export class Fleet {
  readonly procs = new Set<ServiceProcess>();
  /** The compose services that run Colmena (image colmena:dev), in the file's order. */
  readonly services: [string, ComposeService][];
  private readonly counts = new Map<string, number>();
  private readonly freeGatewayPorts: number[];

  private constructor(
    readonly cluster: NatsCluster,
    private readonly dataDir: string,
    readonly gatewayUrls: string[],
    gatewayPorts: number[],
  ) {
    this.services = Object.entries(readCompose().services).filter(([, s]) => s.image === "colmena:dev");
    this.freeGatewayPorts = [...gatewayPorts];
  }

  static async start(): Promise<Fleet> {
    const cluster = await startNatsCluster(3);
    const ports = await Promise.all(Array.from({ length: GATEWAY_SLOTS }, () => freePort()));
    return new Fleet(cluster, mkdtempSync(join(tmpdir(), "colmena-fleet-")), ports.map((p) => `tcp://127.0.0.1:${p}`), ports);
  }

  /**
   * One replica of every service: the services together, then the gateway
   * once they answer (its `/readyz` waits for them, and it reads the buckets
   * auth creates), as compose's `depends_on` orders them. All at once on a
   * new cluster, a gateway once missed its 90 s once in three runs. A failure
   * says what every replica logged as an error.
   */
  async startAll(): Promise<Map<string, ServiceProcess>> {
    const first = new Map<string, ServiceProcess>();
    const gateway = ([n]: [string, ComposeService]) => n === "gateway";
    try {
      await Promise.all(this.services.filter((s) => !gateway(s)).map(async ([n]) => first.set(n, await this.start(n))));
      for (const [n] of this.services.filter(gateway)) first.set(n, await this.start(n));
    } catch (err) {
      throw new Error(`${(err as Error).message}\nevery replica's error lines:\n${this.errorLines().join("\n")}`);
    }
    return first;
  }

  /** Starts one more replica of a compose service; resolves once it answers `/readyz`. */
  async start(name: string): Promise<ServiceProcess> {
    const s = this.services.find(([n]) => n === name)?.[1];
    if (!s) throw new Error(`no compose service ${name}`);
    const n = (this.counts.get(name) ?? 0) + 1;
    this.counts.set(name, n);
    const port = name === "gateway" ? this.freeGatewayPorts.shift() : undefined;
    if (name === "gateway" && port === undefined) throw new Error("no gateway slot left");
    const own = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...own,
      NATS_URL: this.cluster.urls.join(","),
      COLMENA_DATA_DIR: join(this.dataDir, `${name}-${n}`),
      COLMENA_INSTANCE: `${name}-${n}`,
      COLMENA_HOST: "127.0.0.1",
      COLMENA_HEALTH_PORT: String(await freePort()),
      COLMENA_LOG_LEVEL: "warn",
      COLMENA_SCRYPT_N: "1024", // fast password hashing for the test's users; not a compose setting
      ...(port !== undefined ? { COLMENA_TCP_PORT: String(port), COLMENA_HTTP_PORT: String(await freePort()) } : {}),
    };
    const p = await spawnService({ name: `${name}-${n}`, command: s.command!, env, timeoutMs: 90_000 });
    this.procs.add(p);
    return p;
  }

  /** The error and fatal lines every replica logged (the last 20 kB of each), for a failure's message. */
  errorLines(): string[] {
    return [...this.procs].flatMap((p) => p.output().split("\n").filter((l) => /"level":(50|60)/.test(l)).map((l) => `${p.name}: ${l.slice(0, 1500)}`));
  }

  async stop(): Promise<void> {
    await killAll(this.procs);
    await this.cluster.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

type Op = [string, (i: number, n: number, room: string) => Record<string, unknown>];
/** The mixed load: one op of each service in turn (auth.refresh gets the client's own refresh token). */
export const MIXED_OPS: readonly Op[] = [
  ["tasks.submit", (_i, n) => ({ type: "uppercase", input: `t${n}`, wait: true, timeout_ms: 20_000 })],
  ["chat.send", (i, n, room) => ({ room, body: `m ${i} ${n}` })],
  ["files.put", (i, n) => ({ path: `f${i}.txt`, content: Buffer.from(`v${n}`).toString("base64") })],
  ["notify.inbox", () => ({})],
  ["auth.refresh", () => ({})],
  ["chat.history", (_i, _n, room) => ({ room, limit: 5 })],
  // files.get is left out: under this load it failed `internal` ("maximum consumers limit reached": each
  // object-store read creates a consumer), a files blob-store matter reported to the lead, not a restart's.
];

/** One request's outcome: when it was sent and answered (ms since the load began), and its error code if it failed. */
export interface Outcome {
  op: string;
  sentAt: number;
  doneAt: number;
  error?: string;
  message?: string;
}

/** A failure as a test reports it. */
export const describeOutcome = (o: Outcome): string => `${o.op} at ${o.sentAt}-${o.doneAt} ms: ${o.error} ${o.message}`;

/** Clients in closed loops over MIXED_OPS until stopped; every outcome kept. */
export class MixedLoad {
  readonly outcomes: Outcome[] = [];
  readonly t0 = Date.now();
  private running = true;
  private loops: Promise<void>[] = [];
  private readonly skipped = new Set<string>();

  private constructor(readonly clients: ColmenaClient[], readonly room: string) {}

  /** Registers `count` users on clients that know every gateway slot, makes a room they all join, and answers each op once before the loops start. */
  static async start(urls: readonly string[], count = 4): Promise<MixedLoad> {
    const room = uniqueName("fleet").toLowerCase().replace(/[^a-z0-9_-]/g, "");
    const clients: ColmenaClient[] = [];
    for (let i = 0; i < count; i++) {
      const c = await ColmenaClient.connect({ url: urls, requestTimeoutMs: 30_000 });
      clients.push(c);
      const username = uniqueName(`fl${i}`);
      await c.register(username, "password-123");
      await c.login(username, "password-123");
      if (i === 0) await c.request("chat.create", { room });
      await c.request("chat.join", { room });
    }
    const load = new MixedLoad(clients, room);
    for (const [op, make] of MIXED_OPS) if (op !== "auth.refresh") await clients[0].request(op, make(0, 0, room));
    load.loops = clients.map((c, i) => load.loop(c, i));
    return load;
  }

  private async loop(c: ColmenaClient, i: number): Promise<void> {
    for (let n = 0; this.running; n++) {
      const [op, make] = MIXED_OPS[n % MIXED_OPS.length];
      if (this.skipped.has(op)) continue;
      const data = op === "auth.refresh" ? { refresh_token: c.session!.refreshToken! } : make(i, n, this.room);
      const sentAt = this.now();
      try {
        await c.request(op, data);
        this.outcomes.push({ op, sentAt, doneAt: this.now() });
      } catch (err) {
        this.outcomes.push({ op, sentAt, doneAt: this.now(), error: ColmenaError.is(err) ? err.code : "?", message: (err as Error).message });
      }
    }
  }

  /** Leaves an op out of the loops from now on. */
  skip(op: string): void {
    this.skipped.add(op);
  }

  now(): number {
    return Date.now() - this.t0;
  }

  get answered(): number {
    return this.outcomes.filter((o) => !o.error).length;
  }

  /** Waits until `n` more requests were answered (the load goes on after a change). */
  async progress(n = 20, timeoutMs = 30_000): Promise<void> {
    const target = this.answered + n;
    await waitUntil(`${n} more answers`, () => this.answered >= target, timeoutMs);
  }

  /** Failures between two instants (ms since the load began). */
  failuresBetween(from: number, to = Infinity): Outcome[] {
    return this.outcomes.filter((o) => o.error && o.doneAt >= from && o.doneAt <= to);
  }

  /** Answers per op. */
  counts(): Record<string, number> {
    const r: Record<string, number> = {};
    for (const o of this.outcomes) if (!o.error) r[o.op] = (r[o.op] ?? 0) + 1;
    return r;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const c of this.clients) c.close();
  }
}
