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
 *
 * Each replica reads the bucket through a watched local copy of its keys,
 * indexed (presence-view.ts), so `online`, the first/last checks and a
 * closed connection cost no NATS round trip and no scan of the keys.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  ALL_CONN_LIFECYCLE, ALL_GATEWAY_HEARTBEATS, BUCKETS, GATEWAY_HEARTBEAT_MS, GATEWAY_MISSED_HEARTBEATS, channel, connClosed, gatewayDeadline, gatewayHeartbeat,
} from "@colmena/protocol";
import { createOrOpenBucket, publishEvent, type Logger } from "@colmena/runtime";
import { PresenceView, parsePresenceKey, userKey } from "./presence-view.ts";

export const PRESENCE_BUCKET = BUCKETS.chatPresence.name;

/** A gateway's connection ids are `<gateway id>-<n>`. */
export const gatewayOfConn = (conn: string) => conn.slice(0, conn.lastIndexOf("-")) || conn;

export class Presence {
  private readonly seen = new Map<string, number>();
  private readonly subs: Subscription[] = [];
  private timers: NodeJS.Timeout[] = [];
  private readonly startedAt = Date.now();
  /** The bucket's keys as this replica's watcher last saw them, its own writes applied at once. */
  private readonly view = new PresenceView();
  private watcher: Awaited<ReturnType<KV["watch"]>> | undefined;

  private constructor(private readonly nc: NatsConnection, private readonly kv: KV, private readonly log: Logger, private readonly ttlMs: number) {}

  static async open(nc: NatsConnection, log: Logger, ttlMs: number, replicas: number): Promise<Presence> {
    const kv = await createOrOpenBucket(nc, PRESENCE_BUCKET, { ttl: ttlMs, history: 1, replicas });
    const p = new Presence(nc, kv, log, ttlMs);
    await p.watchView();
    p.follow();
    return p;
  }

  /** Starts the watcher of `view`; resolves once it holds the bucket's keys as they were (bounded). */
  private async watchView(): Promise<void> {
    this.watcher = await this.kv.watch({ key: ">" });
    let caughtUp!: () => void;
    const initial = new Promise<void>((r) => (caughtUp = r));
    void (async () => {
      for await (const e of this.watcher!) {
        this.view.apply(e.key, e.revision, e.operation === "PUT");
        if (!e.delta) caughtUp();
      }
    })().catch((err) => this.log.warn({ err: String(err) }, "presence: the watcher stopped"));
    if ((await this.kv.status()).values === 0) caughtUp();
    await Promise.race([initial, new Promise((r) => setTimeout(r, 10_000).unref())]);
  }

  /** The connection joined `room`: online if it is the user's first there. */
  async join(room: string, username: string, conn: string): Promise<void> {
    const first = !this.view.hasUser(room, username);
    const key = this.key(room, username, conn);
    this.view.apply(key, await this.kv.put(key, ""), true);
    if (first) this.tell(room, username, "online");
  }

  /** The connection left `room`: offline if it was the user's last there. */
  async leave(room: string, username: string, conn: string): Promise<void> {
    await this.drop(this.key(room, username, conn));
  }

  /** Users online in `room`, each once. */
  async online(room: string): Promise<string[]> {
    return this.view.usersIn(room).sort();
  }

  stop(): void {
    this.watcher?.stop();
    for (const s of this.subs) s.unsubscribe();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private key(room: string, username: string, conn: string): string {
    return `${room}.${userKey(username)}.${gatewayOfConn(conn)}.${conn}`;
  }

  /** Deletes one key at the revision seen (a racing replica's delete wins alone), then tells the room if the user has no other key there. */
  private async drop(key: string): Promise<void> {
    const p = parsePresenceKey(key);
    const e = await this.kv.get(key);
    if (!p || !e || e.operation !== "PUT") return;
    try {
      await this.kv.delete(key, { previousSeq: e.revision });
      this.view.apply(key, e.revision + 0.5, false); // the delete's own revision is later still
    } catch {
      return; // another replica deleted it first, and tells
    }
    if (!this.view.hasUser(p.room, p.user)) this.tell(p.room, p.user, "offline");
  }

  private async dropAll(keys: string[]): Promise<void> {
    for (const k of keys) await this.drop(k);
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
        if (r.success) void this.dropAll(this.view.keysOfConn(r.data.conn_id)).catch(guard("closing a connection"));
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
    this.view.forgetGone(now, 60_000);
    for (const [gw, deadline] of this.seen) {
      if (deadline >= now) continue;
      this.seen.delete(gw);
      this.log.info({ gateway: gw }, "presence: gateway lost; its connections are offline");
      await this.dropAll(this.view.keysOfGateway(gw));
    }
    if (now - this.startedAt < GATEWAY_HEARTBEAT_MS * GATEWAY_MISSED_HEARTBEATS) return;
    for (const gw of this.view.gateways()) if (!this.seen.has(gw)) await this.dropAll(this.view.keysOfGateway(gw));
  }

  /** Keeps the keys of live gateways from expiring. */
  private async refresh(): Promise<void> {
    for (const gw of this.view.gateways()) {
      if (!this.seen.has(gw)) continue;
      for (const k of this.view.keysOfGateway(gw)) this.view.apply(k, await this.kv.put(k, ""), true);
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
