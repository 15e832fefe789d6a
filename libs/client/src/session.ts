import { ColmenaError } from "@colmena/protocol";

/** What the client remembers of a login, so it can re-authenticate after a reconnect. */
export interface Session {
  userId: string;
  username: string;
  accessToken: string;
  /** Present after `auth.login` or `auth.refresh`; lets the client renew an expired access token. */
  refreshToken?: string;
  /** When the access token expires, milliseconds since the epoch (from `expires_in` or the JWT's `exp`). */
  expiresAt?: number;
}

/** The `exp` claim of a JWT in milliseconds, read without verifying (the gateway verifies). */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    // atob and TextDecoder, not Buffer: this file runs in browsers too.
    const b64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as { exp?: unknown };
    return typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** True when the access token is expired or about to be (within `marginMs`). */
export function isExpired(s: Session, marginMs = 5_000, now = Date.now()): boolean {
  return s.expiresAt !== undefined && s.expiresAt - marginMs <= now;
}

/** The session after a successful reply to one of the auth ops; unchanged for any other op. */
export function nextSession(current: Session | null, op: string, data: unknown, reply: unknown): Session | null {
  const r = (reply ?? {}) as Record<string, unknown>;
  const d = (data ?? {}) as Record<string, unknown>;
  switch (op) {
    case "auth.login":
      return {
        userId: String(r.user_id),
        username: String(r.username),
        accessToken: String(r.access_token),
        refreshToken: String(r.refresh_token),
        expiresAt: Date.now() + Number(r.expires_in) * 1000,
      };
    case "auth.token": {
      const accessToken = String(d.access_token);
      const keepRefresh = current && current.userId === r.user_id ? current.refreshToken : undefined;
      return { userId: String(r.user_id), username: String(r.username), accessToken, refreshToken: keepRefresh, expiresAt: tokenExpiry(accessToken) };
    }
    case "auth.refresh":
      if (!current) return current;
      return { ...current, accessToken: String(r.access_token), refreshToken: String(r.refresh_token), expiresAt: Date.now() + Number(r.expires_in) * 1000 };
    case "auth.logout":
      return null;
    default:
      return current;
  }
}

/** How a new connection's login went: the user, or the error and whether it ends the session. */
export type Reauthentication = { ok: true; username: string } | { ok: false; error: Error; endsSession: boolean };

/**
 * Logs a new connection in with the session's access token, refreshing it
 * first when it has expired, or once when the gateway refuses it. `send`
 * goes out on the new connection without waiting for it to count as open;
 * its replies update the session as any reply does.
 */
export async function reauthenticate(session: () => Session | null, send: (op: string, data: Record<string, unknown>) => Promise<unknown>): Promise<Reauthentication> {
  let refreshed = false;
  const refresh = async () => {
    refreshed = true;
    await send("auth.refresh", { refresh_token: session()!.refreshToken });
  };
  try {
    const s = session()!;
    if (s.refreshToken && isExpired(s)) await refresh();
    try {
      await send("auth.token", { access_token: session()!.accessToken });
    } catch (err) {
      if (!ColmenaError.is(err, "unauthorized") || refreshed || !session()?.refreshToken) throw err;
      await refresh();
      await send("auth.token", { access_token: session()!.accessToken });
    }
    return { ok: true, username: session()!.username };
  } catch (err) {
    // A rejected token or refresh ends the session; a dropped connection keeps it for the next attempt.
    return { ok: false, error: err as Error, endsSession: ColmenaError.is(err, "unauthorized") };
  }
}
