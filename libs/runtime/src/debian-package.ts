/**
 * Fetches one binary out of a Debian package of a newer suite (forky, sid)
 * without touching the system's packages: `apt-get download` with temporary
 * source lists, state and cache, then `dpkg -x` into a temp dir, and the
 * binary copied to where the caller wants it (under `.colmena/`). How
 * nats-server is fetched (nats-binary.ts), and the benchmarks' peers (ntfy).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";

export interface DebianBinary {
  /** The package's name (`nats-server`, `ntfy`). */
  pkg: string;
  /** Where the binary may lie inside the package, tried in order (`usr/bin/ntfy`). */
  paths: string[];
  /** Suites tried in order. */
  suites: string[];
  /** Where the binary is copied. */
  dest: string;
  /** Refuses a binary that is there but unusable (too old). */
  accept?(bin: string): boolean;
}

export function onPath(name: string): string[] {
  return (process.env.PATH ?? "").split(":").filter(Boolean).map((d) => join(d, name)).filter((p) => existsSync(p));
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

/** Fetches one suite's package with apt-get download and copies its binary to `dest`. */
function fetchFromSuite(b: DebianBinary, mirror: string, suite: string, log: (s: string) => void): string | null {
  const tmp = mkdtempSync(join(tmpdir(), `colmena-${b.pkg}-`));
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
    log(`fetching ${b.pkg} from Debian ${suite} (${mirror}) into ${dirname(b.dest)} ...`);
    execFileSync("apt-get", [...opts, "update"], { stdio: ["ignore", "ignore", "inherit"], timeout: 300_000 });
    execFileSync("apt-get", [...opts, "download", b.pkg], { cwd: tmp, stdio: ["ignore", "ignore", "inherit"], timeout: 300_000 });
    const deb = readdirSync(tmp).find((f) => f.startsWith(`${b.pkg}_`) && f.endsWith(".deb"));
    if (!deb) return null;
    execFileSync("dpkg", ["-x", join(tmp, deb), join(tmp, "x")]);
    const found = b.paths.map((p) => join(tmp, "x", p)).find((p) => existsSync(p));
    if (!found || (b.accept && !b.accept(found))) return null;
    mkdirSync(dirname(b.dest), { recursive: true });
    copyFileSync(found, b.dest);
    chmodSync(b.dest, 0o755);
    return b.dest;
  } catch (err) {
    log(`could not fetch ${b.pkg} from Debian ${suite}: ${(err as Error).message}`);
    return null;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The binary from the first suite that has a usable one, at `dest`; null off Debian or when none has. */
export function fetchDebianBinary(b: DebianBinary, log: (s: string) => void = (s) => console.error(s)): string | null {
  const mirror = debianMirror();
  const hasApt = onPath("apt-get").length > 0 && onPath("dpkg").length > 0;
  if (!mirror || !hasApt) return null;
  for (const suite of b.suites) {
    const bin = fetchFromSuite(b, mirror, suite, log);
    if (bin) return bin;
  }
  return null;
}
