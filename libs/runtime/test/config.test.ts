import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { z } from "zod";
import { defineConfig, natsSync, repoRoot, setting, unknownEnv } from "@colmena/runtime";

const root = repoRoot();

/** Every .ts file under a package's src/. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === "node_modules" ? [] : sources(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

test("settings - no source file but the config reads process.env", () => {
  const srcDirs = ["libs", "services"].flatMap((top) => readdirSync(join(root, top)).map((pkg) => join(root, top, pkg, "src")));
  const readers = [...srcDirs, join(root, "cli/src")]
    .flatMap((d) => { try { return sources(d); } catch { return []; } })
    // PATH is the operating system's, not a Colmena setting.
    .filter((f) => /process\.env\.(?!PATH\b)[A-Z_]+|process\.env\[/.test(readFileSync(f, "utf8")))
    .map((f) => relative(root, f));
  assert.deepEqual(readers, []);
});

test("settings - COLMENA_NATS_SYNC is always by default, lazy as null, a duration as given, anything else refused", () => {
  const cfg = defineConfig({ sync: setting("COLMENA_NATS_SYNC", natsSync(), "test") });
  assert.equal(cfg.load({}).sync, "always");
  assert.equal(cfg.load({ COLMENA_NATS_SYNC: "lazy" }).sync, null);
  assert.equal(cfg.load({ COLMENA_NATS_SYNC: "10s" }).sync, "10s");
  assert.throws(() => cfg.load({ COLMENA_NATS_SYNC: "sometimes" }), /invalid configuration: COLMENA_NATS_SYNC="sometimes"/);
});

test("settings - a loaded config is frozen, and unknown COLMENA_* variables are named", () => {
  const cfg = defineConfig({ n: setting("COLMENA_TEST_KNOWN", z.coerce.number().default(3), "test") });
  const c = cfg.load({ COLMENA_TEST_KNOWN: "5" });
  assert.equal(c.n, 5);
  assert.ok(Object.isFrozen(c));
  assert.deepEqual(unknownEnv({ COLMENA_TEST_KNOWN: "1", COLMENA_HOME: "/x", COLMENA_NATS_SYNC: "lazy", COLMENA_TEST_TYPO: "1", PATH: "/bin" }), ["COLMENA_TEST_TYPO"]);
});
