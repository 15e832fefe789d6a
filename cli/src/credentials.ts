/**
 * Stored login: `$COLMENA_HOME/credentials.json`, readable only by its owner
 * (mode 0600), holding the tokens of the last `colmena login`.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { colmenaHome } from "@colmena/runtime";
import type { Session } from "@colmena/client";

export interface Credentials {
  url: string;
  user_id: string;
  username: string;
  access_token: string;
  refresh_token?: string;
  /** Access token expiry, milliseconds since the epoch. */
  expires_at?: number;
}

export function credentialsPath(): string {
  return join(colmenaHome(), "credentials.json");
}

export function loadCredentials(): Credentials | null {
  const p = credentialsPath();
  if (!existsSync(p)) return null;
  try {
    const c = JSON.parse(readFileSync(p, "utf8")) as Credentials;
    return typeof c.access_token === "string" ? c : null;
  } catch {
    return null;
  }
}

export function saveCredentials(url: string, s: Session): void {
  const p = credentialsPath();
  mkdirSync(dirname(p), { recursive: true });
  const c: Credentials = { url, user_id: s.userId, username: s.username, access_token: s.accessToken, refresh_token: s.refreshToken, expires_at: s.expiresAt };
  writeFileSync(p, JSON.stringify(c, null, 2) + "\n", { mode: 0o600 });
  chmodSync(p, 0o600); // `mode` applies only when the file is created
}

export function clearCredentials(): void {
  rmSync(credentialsPath(), { force: true });
}
