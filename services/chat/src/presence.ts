/**
 * Presence per user (protocol.md section 6), kept where every replica sees
 * it: the `colmena_chat_presence` KV bucket holds a key per joined
 * connection, `<room>.<user>.<gateway>.<conn>`. A user is online in a room
 * while any key of theirs is there.
 *
 * Keys go when the connection leaves the room, when its gateway announces it
 * closed, or when its gateway stops sending heartbeats (GATEWAY_MISSED_HEARTBEATS
 * intervals: within 15 s). Every replica follows the announcements; deletes
 * name the revision they saw, so of replicas racing on one key one deletes it
 * and tells the room. The bucket's TTL is a backstop for keys of a gateway
 * that died before any replica saw it; live gateways' keys are refreshed.
 */
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  ALL_CONN_LIFECYCLE, ALL_GATEWAY_HEARTBEATS, BUCKETS, GATEWAY_HEARTBEAT_MS, GATEWAY_MISSED_HEARTBEATS, channel, connClosed, gatewayDeadline, gatewayHeartbeat,
} from "@colmena/protocol";
import { publishEvent, type Logger } from "@colmena/runtime";

export const PRESENCE_BUCKET = BUCKETS.chatPresence.name;

/** Usernames hold `.`, a KV key separator; `=` is allowed in keys and never in usernames. */
const userKey = (u: string) => u.replaceAll(".", "=");
const userOfKey = (k: string) => k.replaceAll("=", ".");
/** A gateway's connection ids are `<gateway id>-<n>`. */
export const gatewayOfConn = (conn: string) => conn.slice(0, conn.lastIndexOf("-")) || conn;

interface Parsed { room: string; user: string; gateway: string; conn: string }
function parse(key: string): Parsed | null {
  const [room, user, gateway, conn] = key.split(".");
  return conn ? { room, user: userOfKey(user), gateway, conn } : null;
}

export class Presence {
  private readonly seen = new Map<string, number>();
  private readonly subs: Subscription[] = [];
  private timers: NodeJS.Timeout[] = [];
  private readonly startedAt = Date.now();

  private constructor(private readonly nc: NatsConnection, private readonly kv: KV, private readonly log: Logger, private readonly ttlMs: number) {}

  static async open(nc: NatsConnection, log: Logger, ttlMs: number, replicas: number): Promise<Presence> {
    const kvm = new Kvm(nc);
    let kv: KV;
    try {
      kv = await kvm.create(PRESENCE_BUCKET, { ttl: ttlMs, history: 1, replicas });
    } catch {
      kv = await kvm.open(PRESENCE_BUCKET);
    }
    const p = new Presence(nc, kv, log, ttlMs);
    p.follow();
    return p;
  }

  /** The connection joined `room`: online if it is the user's first there. */
  async join(room: string, username: string, conn: string): Promise<void> {
    const first = (await this.userKeys(room, username)).length === 0;
    await this.kv.put(this.key(room, username, conn), "");
    if (first) this.tell(room, username, "online");
  }

  /** The connection left `room`: offline if it was the user's last there. */
  async leave(room: string, username: string, conn: string): Promise<void> {
    await this.drop(this.key(room, username, conn));
  }

  /** Users online in `room`, each once. */
  async online(room: string): Promise<string[]> {
    const users = new Set<string>();
    for (const k of await this.list(`${room}.>`)) { const p = parse(k); if (p) users.add(p.user); }
    return [...users].sort();
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private key(room: string, username: string, conn: string): string {
    return `${room}.${userKey(username)}.${gatewayOfConn(conn)}.${conn}`;
  }

  private async userKeys(room: string, username: string): Promise<string[]> {
    return this.list(`${room}.${userKey(username)}.>`);
  }

  private async list(filter: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys(filter)) out.push(k);
    return out;
  }

  /** Deletes one key at the revision seen (a racing replica's delete wins alone), then tells the room if the user has no other key there. */
  private async drop(key: string): Promise<void> {
    const p = parse(key);
    const e = await this.kv.get(key);
    if (!p || !e || e.operation !== "PUT") return;
    try {
      await this.kv.delete(key, { previousSeq: e.revision });
    } catch {
      return; // another replica deleted it first, and tells
    }
    if ((await this.userKeys(p.room, p.user)).length === 0) this.tell(p.room, p.user, "offline");
  }

  private async dropMatching(filter: string): Promise<void> {
    for (const k of await this.list(filter)) await this.drop(k);
  }

  private tell(room: string, username: string, state: "online" | "offline"): void {
    publishEvent(this.nc, channel("room", room), "chat.presence", { room, username, state });
  }

  /** Follows closed connections and gateway heartbeats; sweeps dead gateways' keys and refreshes live ones'. */
  private follow(): void {
    const guard = (what: string) => (err: unknown) => this.log.warn({ err: String(err) }, `presence: ${what} failed`);
    this.subs.push(this.nc.subscribe(ALL_CONN_LIFECYCLE, {
      callback: (_e, m) => {
        if (!m.subject.includes(".closed.")) return;
        const r = connClosed.safeParse(safeJson(m.data));
        if (r.success) void this.dropMatching(`*.*.${gatewayOfConn(r.data.conn_id)}.${r.data.conn_id}`).catch(guard("closing a connection"));
      },
    }));
    this.subs.push(this.nc.subscribe(ALL_GATEWAY_HEARTBEATS, {
      callback: (_e, m) => {
        const r = gatewayHeartbeat.safeParse(safeJson(m.data));
        if (r.success) this.seen.set(r.data.gateway_id, gatewayDeadline(r.data));
      },
    }));
    const sweep = setInterval(() => void this.sweep().catch(guard("sweep")), 1000);
    const refresh = setInterval(() => void this.refresh().catch(guard("refresh")), Math.floor(this.ttlMs / 3));
    sweep.unref();
    refresh.unref();
    this.timers.push(sweep, refresh);
  }

  /**
   * Gateways past their deadline are dead; so is one with keys that sent no
   * heartbeat since this replica started, once a default deadline has passed.
   */
  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const [gw, deadline] of this.seen) {
      if (deadline >= now) continue;
      this.seen.delete(gw);
      this.log.info({ gateway: gw }, "presence: gateway lost; its connections are offline");
      await this.dropMatching(`*.*.${gw}.*`);
    }
    if (now - this.startedAt < GATEWAY_HEARTBEAT_MS * GATEWAY_MISSED_HEARTBEATS) return;
    const unknown = new Set<string>();
    for (const k of await this.list(">")) { const p = parse(k); if (p && !this.seen.has(p.gateway)) unknown.add(p.gateway); }
    for (const gw of unknown) await this.dropMatching(`*.*.${gw}.*`);
  }

  /** Keeps the keys of live gateways from expiring. */
  private async refresh(): Promise<void> {
    for (const k of await this.list(">")) {
      const p = parse(k);
      if (p && this.seen.has(p.gateway)) await this.kv.put(k, "");
    }
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
