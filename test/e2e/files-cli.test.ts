/** The `colmena files` command group against a running system. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "@colmena/runtime";
import { uniqueName } from "@colmena/testing";
import { startSystem } from "./harness.ts";

test("cli - files put (resuming an interrupted upload), get, ls, versions, share and rm", async () => {
  await using sys = await startSystem({ services: ["auth", "files"] });
  const home = mkdtempSync(join(tmpdir(), "colmena-cli-files-"));
  const env = { ...process.env, COLMENA_HOME: home, COLMENA_URL: sys.gateway.tcpUrl, COLMENA_PASSWORD: "cli-password" };
  const main = join(repoRoot(), "cli/src/main.ts");
  const colmena = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", main, ...args], { cwd: repoRoot(), timeout: 60_000, env, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });
  try {
    const user = uniqueName("clifiles");
    assert.equal((await colmena(["register", user])).code, 0);
    assert.equal((await colmena(["login", user])).code, 0);
    const local = join(home, "data.bin");
    const data = randomBytes(1_300_000);
    writeFileSync(local, data);
    // An interrupted upload: begun and partly sent as this user, remembered as the CLI remembers its own.
    const c = await sys.client();
    await c.login(user, "cli-password");
    const st = statSync(local);
    const up = await c.request<{ upload_id: string }>("files.upload.begin", { path: "docs/data.bin", size: data.length, sha256: createHash("sha256").update(data).digest("hex") });
    await c.request("files.upload.chunk", { upload_id: up.upload_id, offset: 0, data: data.subarray(0, 100_000).toString("base64") });
    writeFileSync(join(home, "uploads.json"), JSON.stringify({ [`${local}|docs/data.bin|${st.size}|${st.mtimeMs}`]: up.upload_id }));
    const put = await colmena(["files", "put", local, "docs/data.bin"]);
    assert.equal(put.code, 0, put.stderr);
    assert.deepEqual([JSON.parse(put.stdout).size, JSON.parse(put.stdout).version], [data.length, 1]);
    // The CLI went on with that upload (and committed it) rather than starting another.
    await assert.rejects(c.request("files.upload.status", { upload_id: up.upload_id }), (e: { code?: string }) => e.code === "not_found");
    assert.deepEqual(JSON.parse(readFileSync(join(home, "uploads.json"), "utf8")), {});
    const out = join(home, "back.bin");
    const get = await colmena(["files", "get", "docs/data.bin", out]);
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(readFileSync(out), data);
    assert.deepEqual(JSON.parse((await colmena(["files", "ls"])).stdout).files.map((f: { path: string }) => f.path), ["docs/data.bin"]);
    assert.match(JSON.parse((await colmena(["files", "share", "docs/data.bin", "--ttl=60"])).stdout).url, /^\/v1\/share\//);
    assert.deepEqual(JSON.parse((await colmena(["files", "rm", "docs/data.bin"])).stdout), { path: "docs/data.bin", version: 2 });
    assert.deepEqual(JSON.parse((await colmena(["files", "versions", "docs/data.bin"])).stdout).versions.map((v: { deleted: boolean }) => v.deleted), [false, true]);
    assert.notEqual((await colmena(["files", "bogus"])).code, 0);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
