/**
 * How a logout (or a refresh-token reuse) reaches every gateway at once,
 * although gateways verify access tokens without asking auth: auth writes the
 * revoked family into the KV bucket `colmena_auth_revoked`, each key with a
 * per-message TTL (nats-server 2.11+ `allow_msg_ttl`) as long as the last
 * access token of the family can live, and gateways watch the bucket as they
 * watch the public keys (auth-keys.ts). So the list stays as short as the
 * logouts of the last access-token lifetime, and a gateway that starts later
 * reads it whole before it verifies a token.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { BUCKETS } from "@colmena/protocol";
import { authBucket, settlesWithin } from "./auth-keys.ts";

export const AUTH_REVOKED_BUCKET = BUCKETS.authRevoked.name;

/** Slack over the access-token life: clocks of auth and gateways differ a little, and `exp` is rounded up to a second. */
const CLOCK_SLACK_S = 60;
/** How long the server keeps the marker of an expired key, so watchers see it go. */
const MARKER_TTL_MS = 60_000;
/** How long a starting gateway waits for the list before it goes on with what it has. */
const LOAD_TIMEOUT_MS = 5_000;

/** One revoked family, as auth writes it. `until`: when its last access token has surely expired (ms). */
export interface RevocationRecord {
  user_id: string;
  reason: string;
  at: number;
  until: number;
}

const open = (nc: NatsConnection, replicas: number) => authBucket(nc, AUTH_REVOKED_BUCKET, replicas, { markerTTL: MARKER_TTL_MS });

/** auth's side: announces revoked families. */
export class FamilyRevocations {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, replicas = 1): Promise<FamilyRevocations> {
    return new FamilyRevocations(await open(nc, replicas));
  }

  /** Records `family` as revoked until its access tokens (`accessTtlS` long) have expired. */
  async revoke(family: string, info: { user_id: string; reason: string }, accessTtlS: number): Promise<void> {
    const ttlS = accessTtlS + 1 + CLOCK_SLACK_S;
    const at = Date.now();
    const record: RevocationRecord = { ...info, at, until: at + ttlS * 1000 };
    try {
      await this.kv.create(family, JSON.stringify(record), `${ttlS}s`);
    } catch (err) {
      // Already there (a retried logout, a second revocation): no token of the family was issued since, so its expiry holds.
      const e = await this.kv.get(family).catch(() => null);
      if (e?.operation !== "PUT") throw err;
    }
  }
}

/** A gateway's side: the families revoked now, kept current by a KV watch. */
export class RevokedFamilies {
  private readonly until = new Map<string, number>();
  private readonly listeners: ((family: string) => void)[] = [];
  private stopWatch: () => void = () => {};
  private readonly sweep: NodeJS.Timeout;

  private constructor(private readonly log: Logger) {
    this.sweep = setInterval(() => this.prune(), 60_000);
    this.sweep.unref();
  }

  /** Starts the watch and resolves once the current list is read (or after a bounded wait, with a warning). */
  static async watch(nc: NatsConnection, log: Logger, replicas = 1): Promise<RevokedFamilies> {
    const r = new RevokedFamilies(log);
    const kv = await open(nc, replicas);
    const backlog = (await kv.status()).values;
    const iter = await kv.watch();
    r.stopWatch = () => iter.stop();
    let loaded!: () => void;
    const initial = new Promise<void>((resolve) => (loaded = resolve));
    if (backlog === 0) loaded();
    void (async () => {
      for await (const e of iter) {
        if (e.operation === "PUT") {
          try {
            r.add(e.key, e.json<RevocationRecord>().until);
          } catch (err) {
            log.warn({ err, family: e.key }, "ignoring an unreadable revocation");
          }
        } else {
          r.until.delete(e.key);
        }
        if (e.isUpdate || e.delta === 0) loaded();
      }
    })().catch((err) => log.warn({ err }, "revoked-family watch ended"));
    if (!(await settlesWithin(initial, LOAD_TIMEOUT_MS))) log.warn({ bucket: AUTH_REVOKED_BUCKET }, "revoked families not all read in time; going on with those read");
    return r;
  }

  /** Whether access tokens of `family` must be refused now. */
  has(family: string, now = Date.now()): boolean {
    const until = this.until.get(family);
    if (until === undefined) return false;
    if (until > now) return true;
    this.until.delete(family);
    return false;
  }

  /** Calls `fn` with each family revoked from now on (to drop the connections it authenticated). */
  onRevoked(fn: (family: string) => void): void {
    this.listeners.push(fn);
  }

  close(): void {
    clearInterval(this.sweep);
    this.stopWatch();
  }

  private add(family: string, until: number): void {
    if (!(until > Date.now())) return;
    const known = this.until.has(family);
    this.until.set(family, until);
    if (known) return;
    for (const fn of this.listeners) {
      try {
        fn(family);
      } catch (err) {
        this.log.warn({ err, family }, "a revocation listener failed");
      }
    }
  }

  private prune(): void {
    const now = Date.now();
    for (const [family, until] of this.until) if (until <= now) this.until.delete(family);
  }
}
