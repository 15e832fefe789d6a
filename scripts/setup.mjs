#!/usr/bin/env node
// Installs what `npm start`, `npm test` and `npm run bench` need on a fresh
// machine (Node.js, npm and apt only): the npm packages, then nats-server 2.14+
// (libs/runtime/src/nats-binary.ts). Plain JavaScript: it runs before any package is installed.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

// node_modules is current when it was installed from this very lockfile.
const lockfile = join(root, "package-lock.json");
const nodeModules = join(root, "node_modules");
const marker = join(nodeModules, ".colmena-installed");
const lockHash = createHash("sha256").update(readFileSync(lockfile)).digest("hex");

/** An entry of node_modules that links outside this tree: npm would move the other tree's packages. */
function linkedElsewhere() {
  if (!existsSync(nodeModules)) return null;
  for (const name of readdirSync(nodeModules)) {
    const p = join(nodeModules, name);
    if (!lstatSync(p).isSymbolicLink()) continue;
    const target = realpathSync(p);
    if (!target.startsWith(root + sep)) return `${p} -> ${target}`;
  }
  return null;
}

if (!existsSync(marker) || readFileSync(marker, "utf8") !== lockHash) {
  const link = linkedElsewhere();
  if (link) {
    console.error(`colmena: node_modules is not this tree's own (${link}) and does not match package-lock.json; install in the tree it belongs to.`);
    process.exit(1);
  }
  // `npm ci` installs exactly the committed lockfile and never rewrites it, so
  // a fresh clone's tree stays as committed (the lockfile lists every platform's
  // optional packages the registry serves, so its check passes).
  console.error("installing npm packages ...");
  execFileSync(npm, ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  writeFileSync(marker, lockHash);
}

const tsx = join(root, "node_modules", ".bin", "tsx");
try {
  execFileSync(tsx, [join(root, "libs/runtime/src/nats-binary.ts"), "--install"], { cwd: root, stdio: "inherit" });
} catch {
  process.exit(1);
}

// The web page (apps/web), built when its dist is missing or older than any of
// its sources or the client library it bundles: `npm start` serves it at `/`.
const webDist = join(root, "apps", "web", "dist", "index.html");
const webSources = [join(root, "apps", "web"), join(root, "libs", "client", "src"), join(root, "libs", "protocol", "src")];
/** The newest modification time under `p`, skipping dist and node_modules. */
function newest(p) {
  const st = lstatSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const name of readdirSync(p)) {
    if (name === "dist" || name === "node_modules") continue;
    t = Math.max(t, newest(join(p, name)));
  }
  return t;
}
if (!existsSync(webDist) || statSync(webDist).mtimeMs < Math.max(...webSources.map(newest))) {
  console.error("building the web page (apps/web) ...");
  try {
    execFileSync(npm, ["run", "build", "--silent", "-w", "apps/web"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  } catch {
    process.exit(1);
  }
}
