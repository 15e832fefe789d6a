/**
 * The files service's master key for the local runner: generated on the
 * first start into `$COLMENA_HOME/files.key` (64 hex digits, mode 0600) and
 * reused after, since losing it loses every stored file. A deployment sets
 * `COLMENA_FILES_KEY` itself.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

export function loadFilesKey(home: string): string {
  const file = join(home, "files.key");
  const existing = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
  if (/^[0-9a-f]{64}$/.test(existing)) {
    chmodSync(file, 0o600);
    return existing;
  }
  if (existing) throw new Error(`${file} is not a files master key (64 hex digits); move it away only if no stored file needs it`);
  const key = randomBytes(32).toString("hex");
  writeFileSync(file, key + "\n", { mode: 0o600 });
  return key;
}
