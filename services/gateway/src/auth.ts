/**
 * Authentication at the edge: the gateway verifies access tokens itself with
 * auth's public key(s) (design.md section 5) and binds the user to the
 * connection, subscribing it to its `user.<id>` channel and announcing the
 * session on NATS.
 */
import { existsSync, readFileSync } from "node:fs";
import { createPublicKey, type KeyObject } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, gatewayOp, userChannel } from "@colmena/protocol";
import { PublicKeys, RevokedFamilies, verifyAccessToken, type AccessClaims, type Logger } from "@colmena/runtime";
import type { ChannelHub } from "./channels.ts";
import type { ConnAnnouncer } from "./conn-announcer.ts";
import type { Conn } from "./connection.ts";

/** One configured key verifies tokens whatever their `kid` (a deployment with a single key in a secret). */
class SingleKey extends Map<string, KeyObject> {
  constructor(private readonly key: KeyObject) {
    super([["configured", key]]);
  }
  override get(): KeyObject {
    return this.key;
  }
}

/**
 * Verifies access tokens against `COLMENA_JWT_PUBLIC_KEY`, or the keys auth
 * publishes in KV, and refuses those of a family auth has revoked.
 */
export class TokenVerifier {
  private constructor(private readonly keys: ReadonlyMap<string, KeyObject>, readonly revoked: RevokedFamilies, private readonly watched?: PublicKeys) {}

  static async create(nc: NatsConnection, log: Logger, publicKey?: string, replicas = 1): Promise<TokenVerifier> {
    const revoked = await RevokedFamilies.watch(nc, log, replicas);
    if (publicKey) {
      const pem = publicKey.includes("-----BEGIN") ? publicKey : readPem(publicKey);
      return new TokenVerifier(new SingleKey(createPublicKey(pem)), revoked);
    }
    const watched = await PublicKeys.watch(nc, log, replicas).catch((err: unknown) => {
      revoked.close();
      throw err;
    });
    return new TokenVerifier(watched.keys, revoked, watched);
  }

  async verify(token: string): Promise<AccessClaims> {
    // Right after boot the KV watch may not have delivered auth's key yet.
    if (this.keys.size === 0 && this.watched) await this.watched.ready(2000);
    const claims = await verifyAccessToken(token, this.keys);
    if (this.revoked.has(claims.family)) throw new ColmenaError("unauthorized", "token revoked (logged out); log in again");
    return claims;
  }

  close(): void {
    this.revoked.close();
    this.watched?.close();
  }
}

function readPem(path: string): string {
  if (!existsSync(path)) throw new Error(`COLMENA_JWT_PUBLIC_KEY is neither a PEM key nor a readable file: ${path}`);
  return readFileSync(path, "utf8");
}

/**
 * The sessions of this gateway: binds verified users to connections, keeps
 * each connection in its `user.<id>` channel while it is authenticated, and
 * announces sessions opening and closing on NATS (conn-announcer.ts).
 */
export class Sessions {
  constructor(private readonly hub: ChannelHub, private readonly announcer: ConnAnnouncer) {}

  /**
   * Binds a verified user to the connection (replacing another user) and joins
   * its user channel; resolves once pushes to that channel will arrive. The
   * session is announced then, so a service that answers the announcement
   * with a push reaches it.
   */
  async bind(conn: Conn, claims: AccessClaims): Promise<void> {
    let ch: string;
    try {
      ch = userChannel(claims.userId);
    } catch {
      throw new ColmenaError("unauthorized", "token names an unusable user id");
    }
    if (conn.user && conn.user.id !== claims.userId) this.unbind(conn, "replaced");
    conn.user = { id: claims.userId, username: claims.username, family: claims.family, expiresAt: claims.expiresAt };
    await this.hub.join(conn, ch).ready;
    // Closed or re-bound meanwhile: its close (or the other bind) speaks for it.
    if (conn.closed || conn.user?.id !== claims.userId || this.announcer.isOpen(conn, claims.userId)) return;
    this.announcer.opened(conn, { userId: claims.userId, username: claims.username });
  }

  /** Forgets the user of a connection (logout, or another user's login) and leaves its user channel. */
  unbind(conn: Conn, reason: "logout" | "replaced" | "revoked"): void {
    if (!conn.user) return;
    this.announcer.closed(conn, reason);
    try {
      this.hub.leave(conn, userChannel(conn.user.id));
    } catch {
      /* an id that never made a channel */
    }
    conn.user = undefined;
  }

  /** The connection went away (its channels are left by the gateway's close hook). */
  ended(conn: Conn, reason: "disconnect" | "shutdown"): void {
    this.announcer.closed(conn, reason);
  }
}

/** `ColmenaError` for a user op on a connection without a live token. */
export function needUser(conn: Conn): ColmenaError {
  return conn.user
    ? new ColmenaError("unauthorized", `token expired; refresh and send ${gatewayOp("token")?.op ?? "a fresh access token"}`)
    : new ColmenaError("unauthorized", "not logged in");
}
