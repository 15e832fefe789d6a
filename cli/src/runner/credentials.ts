/**
 * The passwords of the runner's NATS users (one per service, the gateway and
 * an operator: libs/runtime/src/nats-permissions.ts), generated on the first
 * start into `$COLMENA_HOME/nats/credentials.json` (mode 0600) and reused after,
 * so a restarted runner and a `nats` CLI pointed at the file keep working. A
 * user added to the registry since gets its password on the next start.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { natsUsers } from "@colmena/runtime";

export type NatsCredentials = Readonly<Record<string, string>>;

function read(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === "string" && e[1].length > 0));
    }
  } catch {
    // unreadable: start again with fresh passwords (the server config is rewritten with them)
  }
  return {};
}

/** Every user's password, creating the missing ones. */
export function loadCredentials(file: string): NatsCredentials {
  const creds = read(file);
  let changed = false;
  for (const { user } of natsUsers()) {
    if (creds[user]) continue;
    creds[user] = randomBytes(18).toString("base64url");
    changed = true;
  }
  if (changed) writeFileSync(file, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });
  // Also when the file existed with looser rights.
  chmodSync(file, 0o600);
  return Object.freeze(creds);
}
