import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { inboxPrefix } from "./nats-permissions.ts";

export interface ConnectOptions {
  servers: string | string[];
  name: string;
  log: Logger;
  /** The NATS user (`NATS_USER`); also read from a `nats://user:pass@host` URL. */
  user?: string;
  /** Its password (`NATS_PASSWORD`). */
  pass?: string;
}

/** The user named in the first server URL (`nats://tasks:secret@host:4222`), if any. */
function userInUrl(servers: string[]): string | undefined {
  try {
    return decodeURIComponent(new URL(servers[0]).username) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A NATS connection that reconnects forever and logs every status change.
 * A connection with a user takes that user's inbox prefix, the only inboxes
 * its permissions let it subscribe to (nats-permissions.ts).
 */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  const servers = Array.isArray(opts.servers) ? opts.servers : opts.servers.split(",").map((s) => s.trim());
  const user = opts.user ?? userInUrl(servers);
  const nc = await connect({
    servers,
    name: opts.name,
    ...(opts.user !== undefined ? { user: opts.user, pass: opts.pass } : {}),
    ...(user ? { inboxPrefix: inboxPrefix(user) } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
    waitOnFirstConnect: true,
    // nats.js otherwise builds an Error (with a stack trace) for every request
    // up front, in case it times out: a fifth of the gateway's CPU per request.
    noAsyncTraces: true,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "ping") continue;
      opts.log.info({ nats: s.type, data: "server" in s ? s.server : undefined }, `nats ${s.type}`);
    }
  })();
  return nc;
}

/**
 * A fresh inbox under the connection's own prefix (what nats.js uses for its
 * requests): code that subscribes to inboxes of its own must use this, since a
 * user may subscribe only under its prefix. `scope` adds a token after the
 * prefix, for inboxes that peers are allowed to publish to (nats-permissions.ts).
 */
export function newInbox(nc: NatsConnection, scope?: string): string {
  const prefix = (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix || "_INBOX";
  // A scope (`http`) names inboxes other users may be allowed to publish to, apart from the request replies.
  return createInbox(scope ? `${prefix}.${scope}` : prefix);
}
