#!/usr/bin/env node
// Installs what `npm start`, `npm test` and `npm run bench` need on a fresh
// machine (Node.js, npm and apt only): the npm packages, then nats-server 2.10+
// (libs/runtime/src/nats-binary.ts). Plain JavaScript: it runs before any package is installed.
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function needsInstall() {
  const marker = join(root, "node_modules", ".package-lock.json");
  if (!existsSync(marker)) return true;
  for (const f of ["package.json", "package-lock.json"]) {
    const p = join(root, f);
    if (existsSync(p) && statSync(p).mtimeMs > statSync(marker).mtimeMs + 1000) return true;
  }
  return false;
}

if (needsInstall()) {
  console.error("installing npm packages ...");
  const args = existsSync(join(root, "package-lock.json")) ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"];
  execFileSync(npm, args, { cwd: root, stdio: "inherit" });
}

const tsx = join(root, "node_modules", ".bin", "tsx");
try {
  execFileSync(tsx, [join(root, "libs/runtime/src/nats-binary.ts"), "--install"], { cwd: root, stdio: "inherit" });
} catch {
  process.exit(1);
}
