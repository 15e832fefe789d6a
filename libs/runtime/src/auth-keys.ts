/**
 * How the signing key reaches every `auth` instance and its public half every
 * gateway, with nothing configured: a JetStream KV bucket. The first auth
 * instance creates the key (`kv.create` is atomic, so racing instances agree
 * on one); `COLMENA_JWT_PRIVATE_KEY` (PEM) replaces it in deployments that
 * keep the key in a secret. Gateways watch the public key and follow rotation.
 * The private key has a bucket of its own (`colmena_auth_private`), which only
 * auth's NATS user may read; gateways may read only the public keys' bucket.
 */
import type { KeyObject } from "node:crypto";
import type { KV, KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { BUCKETS } from "@colmena/protocol";
import { isWrongLastSeq } from "./entity-log.ts";
import { createOrOpenBucket, retryWhileForming } from "./streams.ts";
import {
  fromPrivateRecord,
  fromPublicRecord,
  generateSigningKey,
  signingKeyFromPem,
  toPrivateRecord,
  toPublicRecord,
  type PrivateKeyRecord,
  type PublicKeyRecord,
  type SigningKey,
} from "./jwt.ts";

export const AUTH_KEYS_BUCKET = BUCKETS.authKeys.name;
const PRIVATE_KEY = "signing.private";
const PUBLIC_PREFIX = "signing.public.";

/**
 * Opens (creating when missing) one of auth's KV buckets at `replicas`: keys here, revoked families in
 * revocations.ts. Its reads go to the stream's leader (`allow_direct: false`): they follow a `create` that
 * lost to another instance's, and a direct get may be answered by a replica that has not seen that one
 * (the signing key would look vanished to the second auth instance starting beside the first).
 */
export async function authBucket(nc: NatsConnection, name: string, replicas: number, opts: Partial<KvOptions> = {}): Promise<KV> {
  return createOrOpenBucket(nc, name, { history: 1, replicas, allow_direct: false, ...opts });
}

const bucket = (nc: NatsConnection, replicas: number) => authBucket(nc, AUTH_KEYS_BUCKET, replicas);

/** True once `p` resolves, false if `ms` pass first: a watch's first values, waited for boundedly. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms)));
  const ok = await Promise.race([p.then(() => true), late]);
  clearTimeout(t);
  return ok;
}

/**
 * The cluster-wide private key record: created once (`kv.create` is atomic,
 * so racing instances agree on one), or moved from the public bucket where
 * earlier versions kept it, then purged from there so gateways cannot read it.
 */
async function sharedPrivateKey(nc: NatsConnection, keys: KV, replicas: number): Promise<PrivateKeyRecord> {
  const priv = await authBucket(nc, BUCKETS.authPrivate.name, replicas);
  const e = await keys.get(PRIVATE_KEY);
  const legacy = e?.operation === "PUT" ? e.json<PrivateKeyRecord>() : undefined;
  const candidate = legacy ?? toPrivateRecord(generateSigningKey());
  let record = candidate;
  try {
    await retryWhileForming(() => priv.create(PRIVATE_KEY, JSON.stringify(candidate)));
  } catch (err) {
    if (!isWrongLastSeq(err)) throw err; // not "another instance's key is there": its own failure, not a missing key
    const stored = await priv.get(PRIVATE_KEY);
    if (!stored) throw new Error("auth signing key vanished from KV");
    record = stored.json<PrivateKeyRecord>();
  }
  if (legacy) await keys.purge(PRIVATE_KEY);
  return record;
}

/**
 * The signing key for `auth`: from PEM config, or the cluster-wide one in KV
 * (created on first use, at `replicas`: auth's `COLMENA_STREAM_REPLICAS`).
 */
export async function loadSigningKey(nc: NatsConnection, pem?: string, replicas = 1): Promise<SigningKey> {
  const kv = await bucket(nc, replicas);
  const key = pem ? signingKeyFromPem(pem) : await fromPrivateRecord(await sharedPrivateKey(nc, kv, replicas));
  await retryWhileForming(() => kv.put(PUBLIC_PREFIX + key.kid, JSON.stringify(toPublicRecord(key))));
  return key;
}

/**
 * Every public key auth has published, kept current by a KV watch, so tokens
 * signed by any key in use verify. `ready` resolves once one key is known.
 */
export class PublicKeys {
  readonly keys = new Map<string, KeyObject>();
  private readonly firstKey: Promise<void>;
  private resolveFirst!: () => void;
  private stopWatch: (() => void) | null = null;

  constructor() {
    this.firstKey = new Promise((r) => (this.resolveFirst = r));
  }

  /** Watches the bucket, creating it at `replicas` when no auth instance has yet. */
  static async watch(nc: NatsConnection, log: Logger, replicas = 1): Promise<PublicKeys> {
    const pk = new PublicKeys();
    const kv = await bucket(nc, replicas);
    const iter = await kv.watch({ key: `${PUBLIC_PREFIX}>` });
    pk.stopWatch = () => iter.stop();
    void (async () => {
      for await (const e of iter) {
        const kid = e.key.slice(PUBLIC_PREFIX.length);
        if (e.operation !== "PUT") {
          pk.keys.delete(kid);
          continue;
        }
        try {
          const { key } = await fromPublicRecord(e.json<PublicKeyRecord>());
          pk.keys.set(kid, key);
          pk.resolveFirst();
        } catch (err) {
          log.warn({ err, kid }, "ignoring an unreadable public key");
        }
      }
    })().catch((err) => log.warn({ err }, "public-key watch ended"));
    return pk;
  }

  /** Adds a key directly (`COLMENA_JWT_PUBLIC_KEY`, tests). */
  add(kid: string, key: KeyObject): void {
    this.keys.set(kid, key);
    this.resolveFirst();
  }

  /** Resolves when at least one key is known, or after `timeoutMs`. */
  ready(timeoutMs = 10_000): Promise<boolean> {
    return settlesWithin(this.firstKey, timeoutMs);
  }

  close(): void {
    this.stopWatch?.();
  }
}
