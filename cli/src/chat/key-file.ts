/**
 * The user's end-to-end encryption key for `colmena chat`:
 * `$COLMENA_HOME/chat-keys/<username>.json`, readable only by its owner
 * (mode 0600), created on first use and published with `chat.keys.publish`.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { colmenaHome } from "@colmena/runtime";
import { exportPrivateKey, generateKeyPair, importKeyPair, type E2eKeyPair } from "@colmena/client";

interface KeyFile { key_id: string; public_key: string; private_key_pkcs8: string }

export function chatKeyPath(username: string): string {
  return join(colmenaHome(), "chat-keys", `${encodeURIComponent(username)}.json`);
}

/** The saved key of `username`, or null when there is none yet. */
export async function loadChatKey(username: string): Promise<E2eKeyPair | null> {
  const p = chatKeyPath(username);
  if (!existsSync(p)) return null;
  const k = JSON.parse(readFileSync(p, "utf8")) as KeyFile;
  return importKeyPair(k.private_key_pkcs8, k.public_key);
}

/** The saved key of `username`, created (and saved 0600) when missing; `created` tells whether it is new. */
export async function loadOrCreateChatKey(username: string): Promise<{ key: E2eKeyPair; created: boolean }> {
  const had = await loadChatKey(username);
  if (had) return { key: had, created: false };
  const key = await generateKeyPair();
  const p = chatKeyPath(username);
  mkdirSync(join(colmenaHome(), "chat-keys"), { recursive: true, mode: 0o700 });
  const file: KeyFile = { key_id: key.keyId, public_key: key.publicKey, private_key_pkcs8: await exportPrivateKey(key) };
  writeFileSync(p, JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
  chmodSync(p, 0o600); // `mode` applies only when the file is created
  return { key, created: true };
}
