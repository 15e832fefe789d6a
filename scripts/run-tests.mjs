#!/usr/bin/env node
// Runs every test file (`*.test.ts` under libs/, services/, cli/ and test/)
// with Node's own test runner through tsx. Arguments filter files by substring.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const skip = new Set(["node_modules", ".colmena", ".git"]);

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = ["libs", "services", "cli", "test"]
  .flatMap((d) => { try { return walk(join(root, d)); } catch { return []; } })
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
/** `git status --porcelain` of the checkout, or null outside a git tree. */
function gitStatus() {
  const g = spawnSync("git", ["status", "--porcelain", "--untracked-files=all"], { cwd: root, encoding: "utf8" });
  return g.status === 0 ? g.stdout : null;
}

const statusBefore = gitStatus();
const concurrency = process.env.COLMENA_TEST_CONCURRENCY ?? "3";
// Files that say `@test-exclusive` near their top run after the others, one
// at a time: they start OS processes or a browser and kill them, or bound
// their memory and recovery times, and sharing two cores with other files
// measured the neighbours rather than the system.
const exclusive = (f) => readFileSync(join(root, f), "utf8").slice(0, 2000).includes("@test-exclusive");
const passes = [
  { files: files.filter((f) => !exclusive(f)), concurrency },
  { files: files.filter(exclusive), concurrency: "1" },
].filter((p) => p.files.length > 0);
// The browser tests' chromium is installed here, before any file's clock
// starts: an apt install on a new machine takes minutes, which counted
// against the web page file's own timeout.
if (files.some((f) => f.includes("web-page"))) {
  spawnSync(process.execPath, ["--import", "tsx", join(root, "test/e2e/web-browser.ts"), "--install"], { cwd: root, stdio: "inherit" });
}
let failed = false;
for (const pass of passes) {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", `--test-concurrency=${pass.concurrency}`, "--test-timeout=240000", ...pass.files],
    { cwd: root, stdio: "inherit", env: { ...process.env, COLMENA_LOG_LEVEL: process.env.COLMENA_LOG_LEVEL ?? "silent" } },
  );
  failed ||= r.status !== 0;
}
// The suite must leave the checkout as it found it (nothing written, nothing
// left behind); a test that does is a defect, so the run fails.
const statusAfter = gitStatus();
if (statusBefore !== null && statusAfter !== statusBefore) {
  const before = new Set(statusBefore.split("\n"));
  const changed = statusAfter.split("\n").filter((l) => l && !before.has(l));
  console.error(`the test suite changed the checkout (git status --porcelain):\n${changed.join("\n") || statusAfter}`);
  process.exit(1);
}
process.exit(failed ? 1 : 0);
