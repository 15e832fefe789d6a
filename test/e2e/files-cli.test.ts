/** The `colmena files` command group against a running system. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { uniqueName } from "@colmena/testing";
import { Cli, finished } from "./cli-runner.ts";
import { startSystem } from "./harness.ts";

test("cli - files put (resuming an interrupted upload), get, ls, versions, share and rm", async () => {
  await using sys = await startSystem({ services: ["auth", "files"] });
  using cli = new Cli(sys.gateway.tcpUrl);
  const { home } = cli;
  const colmena = (args: string[]) => cli.run(args);
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
});

test("cli - files put killed in the middle goes on where it stopped when run again, with plain progress lines off a terminal", async () => {
  await using sys = await startSystem({ services: ["auth", "files"] });
  using cli = new Cli(sys.gateway.tcpUrl);
  const { home } = cli;
  const run = (args: string[]) => cli.spawn(args);
  const finish = finished;
  const user = uniqueName("clikill");
  assert.equal((await finish(run(["register", user]))).code, 0);
  assert.equal((await finish(run(["login", user]))).code, 0);
  const local = join(home, "big.bin");
  const data = randomBytes(12 * 1024 * 1024);
  writeFileSync(local, data);
  const first = run(["files", "put", local, "big.bin"]);
  // Killed once it has sent a fifth of the file or more (the plain lines say how far it is).
  first.stderr!.on("data", (d) => {
    const m = /\((\d+)%\)/.exec(String(d));
    if (m && Number(m[1]) >= 20) first.kill("SIGKILL");
  });
  const killed = await finish(first);
  assert.equal(killed.code, null, `the first run was killed: ${killed.stderr}`);
  assert.doesNotMatch(killed.stderr, /\x1b\[/u, "no terminal control characters off a terminal");
  const again = await finish(run(["files", "put", local, "big.bin"]));
  assert.equal(again.code, 0, again.stderr);
  const resumed = /resuming upload (\S+) at (\d+) of/.exec(again.stderr);
  assert.ok(resumed && Number(resumed[2]) > 0, `the second run resumed: ${again.stderr}`);
  assert.match(again.stderr, /\(100%\)/);
  assert.equal(JSON.parse(again.stdout).size, data.length);
  const out = join(home, "back.bin");
  assert.equal((await finish(run(["files", "get", "big.bin", out]))).code, 0);
  assert.deepEqual(readFileSync(out), data);
});
