#!/usr/bin/env node
// Installs what `npm start`, `npm test` and `npm run bench` need on a fresh
// machine (Node.js, npm and apt only): the npm packages, then nats-server 2.10+
// (libs/runtime/src/nats-binary.ts). Plain JavaScript: it runs before any package is installed.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

// node_modules is current when it was installed from this very lockfile.
const lockfile = join(root, "package-lock.json");
const marker = join(root, "node_modules", ".colmena-installed");
const lockHash = createHash("sha256").update(readFileSync(lockfile)).digest("hex");

if (!existsSync(marker) || readFileSync(marker, "utf8") !== lockHash) {
  // `npm install` with the committed lockfile installs exactly its versions, like
  // `npm ci`, but tolerates optional platform packages the registry does not
  // serve (msgpackr-extract's darwin/win32 builds, under bullmq), which make
  // `npm ci`'s lockfile check fail on the registries these machines reach.
  console.error("installing npm packages ...");
  execFileSync(npm, ["install", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  writeFileSync(marker, createHash("sha256").update(readFileSync(lockfile)).digest("hex"));
}

const tsx = join(root, "node_modules", ".bin", "tsx");
try {
  execFileSync(tsx, [join(root, "libs/runtime/src/nats-binary.ts"), "--install"], { cwd: root, stdio: "inherit" });
} catch {
  process.exit(1);
}
