/**
 * Finds a nats-server of 2.14 or later, or fetches Debian forky's (else sid's)
 * package into `.colmena/` without touching the system's packages (design.md section 8).
 * Run as a script (`tsx nats-binary.ts`) it installs and prints the path.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localConfig } from "./config.ts";
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

function onPath(name: string): string[] {
  return (process.env.PATH ?? "").split(":").filter(Boolean).map((d) => join(d, name)).filter((p) => existsSync(p));
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

/** The mirror this machine's apt already uses, from sources.list(.d). */
function debianMirror(): string | null {
  const files = ["/etc/apt/sources.list"];
  if (existsSync("/etc/apt/sources.list.d"))
    for (const f of readdirSync("/etc/apt/sources.list.d")) files.push(join("/etc/apt/sources.list.d", f));
  for (const f of files) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, "utf8");
    for (const line of text.split("\n")) {
      const uris = /^\s*URIs:\s*(\S+)/i.exec(line) ?? /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
      if (uris && /debian\/?$/.test(uris[1]) && !/security/.test(uris[1])) return uris[1].replace(/\/$/, "");
    }
  }
  return null;
}

/** Fetches one suite's nats-server package with apt-get download and unpacks it into `.colmena/bin`. */
function installSuite(mirror: string, suite: string, log: (s: string) => void): string | null {
  const tmp = mkdtempSync(join(tmpdir(), "colmena-nats-"));
  try {
    const list = join(tmp, `${suite}.list`);
    writeFileSync(list, `deb ${mirror} ${suite} main\n`);
    mkdirSync(join(tmp, "lists", "partial"), { recursive: true });
    mkdirSync(join(tmp, "cache", "archives", "partial"), { recursive: true });
    const opts = [
      "-q",
      "-o", `Dir::Etc::SourceList=${list}`,
      "-o", "Dir::Etc::SourceParts=/dev/null",
      "-o", `Dir::State::Lists=${join(tmp, "lists")}`,
      "-o", `Dir::Cache=${join(tmp, "cache")}`,
      "-o", "APT::Sandbox::User=root",
    ];
    log(`fetching nats-server from Debian ${suite} (${mirror}) into ${colmenaHome()}/bin ...`);
    execFileSync("apt-get", [...opts, "update"], { stdio: ["ignore", "ignore", "inherit"], timeout: 300_000 });
    execFileSync("apt-get", [...opts, "download", "nats-server"], { cwd: tmp, stdio: ["ignore", "ignore", "inherit"], timeout: 300_000 });
    const deb = readdirSync(tmp).find((f) => f.startsWith("nats-server_") && f.endsWith(".deb"));
    if (!deb) return null;
    execFileSync("dpkg", ["-x", join(tmp, deb), join(tmp, "x")]);
    const found = ["usr/sbin/nats-server", "usr/bin/nats-server"].map((p) => join(tmp, "x", p)).find((p) => existsSync(p));
    if (!found || !recentEnough(natsVersion(found))) return null;
    const dest = localBinary();
    mkdirSync(join(colmenaHome(), "bin"), { recursive: true });
    copyFileSync(found, dest);
    chmodSync(dest, 0o755);
    return dest;
  } catch (err) {
    log(`could not fetch nats-server from Debian ${suite}: ${(err as Error).message}`);
    return null;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Debian forky's nats-server, else sid's, into `.colmena/bin`; null off Debian or when neither has 2.14+. */
export function installFromDebian(log: (s: string) => void = (s) => console.error(s)): string | null {
  const mirror = debianMirror();
  const hasApt = onPath("apt-get").length > 0 && onPath("dpkg").length > 0;
  if (!mirror || !hasApt) return null;
  for (const suite of DEBIAN_SUITES) {
    const bin = installSuite(mirror, suite, log);
    if (bin) return bin;
  }
  return null;
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
