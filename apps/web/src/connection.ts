/**
 * The page's one connection to the gateway that served it (`/ws` on the same
 * host), and the login kept across reloads: the refresh token in
 * sessionStorage, exchanged with `auth.refresh` when the page loads
 * (protocol.md section 4). sessionStorage, not localStorage, because refresh
 * tokens rotate: two tabs sharing one would present a used token and revoke
 * the whole family.
 */
import { ColmenaClient, ColmenaError } from "@colmena/client/browser";

const KEY = "colmena.refresh";

export function gatewayWsUrl(): string {
  const u = new URL("/ws", location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

/** Connects, retrying while the gateway is unreachable; keeps the stored refresh token current. */
export async function connect(onWait: (msg: string) => void): Promise<ColmenaClient> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      const client = await ColmenaClient.connect({ url: gatewayWsUrl() });
      client.onSession((s) => {
        if (s?.refreshToken) sessionStorage.setItem(KEY, s.refreshToken);
        else if (!s) sessionStorage.removeItem(KEY);
      });
      return client;
    } catch (err) {
      onWait(`cannot reach the gateway (${(err as Error).message}); retrying ...`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Logs the connection in again with the refresh token a previous load left; false when there is none or it was refused. */
export async function resume(client: ColmenaClient): Promise<boolean> {
  const refresh = sessionStorage.getItem(KEY);
  if (!refresh) return false;
  try {
    const r = await client.request<{ access_token: string; refresh_token: string }>("auth.refresh", { refresh_token: refresh });
    sessionStorage.setItem(KEY, r.refresh_token);
    await client.authenticate(r.access_token, r.refresh_token);
    return true;
  } catch (err) {
    if (ColmenaError.is(err, "unauthorized")) sessionStorage.removeItem(KEY);
    return false;
  }
}

/** A fresh access token for the HTTP endpoints (tus, downloads), refreshing it when it is about to expire. */
export async function accessToken(client: ColmenaClient): Promise<string> {
  const s = client.session;
  if (!s) throw new ColmenaError("unauthorized", "not logged in");
  if (s.expiresAt !== undefined && s.expiresAt - 30_000 < Date.now() && s.refreshToken) {
    const r = await client.refresh();
    return r.access_token;
  }
  return s.accessToken;
}

export function errorText(err: unknown): string {
  if (err instanceof ColmenaError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
