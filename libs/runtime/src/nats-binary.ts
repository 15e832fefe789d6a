/**
 * Finds a nats-server of 2.14 or later, or fetches Debian forky's (else sid's)
 * package into `.colmena/` without touching the system's packages (design.md section 8;
 * the fetch itself is debian-package.ts).
 * Run as a script (`tsx nats-binary.ts`) it installs and prints the path.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { localConfig } from "./config.ts";
import { fetchDebianBinary, onPath } from "./debian-package.ts";
import { colmenaHome } from "./paths.ts";

export const MIN_NATS_VERSION: [number, number] = [2, 14];
/** Debian suites that ship nats-server 2.14+, tried in order. */
const DEBIAN_SUITES = ["forky", "sid"];
export const INSTALL_HINT =
  "Colmena needs nats-server 2.14 or later: install it from https://github.com/nats-io/nats-server/releases (or your package manager) and put it on PATH, or set NATS_URL to a running server.";

/** `nats-server: v2.10.27` -> [2, 10, 27]; null if the binary does not run. */
export function natsVersion(bin: string): number[] | null {
  try {
    const out = execFileSync(bin, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 });
    const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(out);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
  } catch {
    return null;
  }
}

function recentEnough(v: number[] | null): boolean {
  if (!v) return false;
  const [maj, min] = MIN_NATS_VERSION;
  return v[0] > maj || (v[0] === maj && v[1] >= min);
}

export function localBinary(): string {
  return join(colmenaHome(), "bin", "nats-server");
}

/** A usable nats-server: `NATS_SERVER_BIN`, then PATH, then `.colmena/bin`; or null. */
export function findNatsServer(): string | null {
  const candidates = [localConfig().natsServerBin, ...onPath("nats-server"), localBinary()].filter(
    (p): p is string => !!p && existsSync(p),
  );
  return candidates.find((p) => recentEnough(natsVersion(p))) ?? null;
}

/** Debian forky's nats-server, else sid's, into `.colmena/bin`; null off Debian or when neither has 2.14+. */
export function installFromDebian(log: (s: string) => void = (s) => console.error(s)): string | null {
  return fetchDebianBinary({ pkg: "nats-server", paths: ["usr/sbin/nats-server", "usr/bin/nats-server"], suites: DEBIAN_SUITES, dest: localBinary(), accept: (bin) => recentEnough(natsVersion(bin)) }, log);
}

/**
 * A usable nats-server path, installing one if needed; throws with INSTALL_HINT otherwise.
 * `COLMENA_NATS_INSTALL=never` skips the Debian fetch (offline machines, tests of the failure path).
 */
export function ensureNatsServer(log?: (s: string) => void): string {
  const bin = findNatsServer() ?? (localConfig().natsInstall === "never" ? null : installFromDebian(log));
  if (!bin) throw new Error(INSTALL_HINT);
  return bin;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!) && process.argv.includes("--install")) {
  try {
    const bin = ensureNatsServer();
    console.error(`nats-server: ${bin} (v${natsVersion(bin)!.join(".")})`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
