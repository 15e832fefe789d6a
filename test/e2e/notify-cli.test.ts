/** The `colmena notify` command group against a running system. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "@colmena/runtime";
import { uniqueName, waitUntil } from "@colmena/testing";
import { startSystem } from "./harness.ts";

test("cli - notify subscribe, publish, inbox, read, unsubscribe and watch", async () => {
  await using sys = await startSystem({ services: ["auth", "notify"] });
  const home = mkdtempSync(join(tmpdir(), "colmena-cli-notify-"));
  const env = { ...process.env, COLMENA_HOME: home, COLMENA_URL: sys.gateway.tcpUrl, COLMENA_PASSWORD: "cli-password" };
  const main = join(repoRoot(), "cli/src/main.ts");
  const colmena = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", main, ...args], { cwd: repoRoot(), timeout: 60_000, env }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });
  const json = async (args: string[]) => {
    const r = await colmena(args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const watcher = { proc: undefined as ReturnType<typeof spawn> | undefined };
  try {
    const user = uniqueName("clinote");
    assert.equal((await colmena(["register", user])).code, 0);
    assert.equal((await colmena(["login", user])).code, 0);
    assert.deepEqual(await json(["notify", "subscribe", "ci.*"]), { topic: "ci.*", channels: ["push"] });
    assert.deepEqual((await json(["notify", "subscriptions"])).subscriptions.map((s: { topic: string }) => s.topic), ["ci.*"]);

    let out = "";
    watcher.proc = spawn(process.execPath, ["--import", "tsx", main, "notify", "watch"], { cwd: repoRoot(), env });
    let err = "";
    watcher.proc.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
    watcher.proc.stderr!.on("data", (d: Buffer) => { err += d.toString(); });
    await waitUntil("the watcher", () => err.includes("watching"), 20_000);

    const pub = await json(["notify", "publish", "ci.deploy", "deploy finished", "all green"]);
    assert.equal(pub.recipients, 1);
    await waitUntil("the watched event", () => out.includes(pub.notification_id), 10_000);
    const box = await json(["notify", "inbox", "--unread"]);
    assert.deepEqual(box.notifications.map((n: { notification_id: string; body: string }) => [n.notification_id, n.body]), [[pub.notification_id, "all green"]]);
    assert.deepEqual(await json(["notify", "read", pub.notification_id]), {});
    assert.deepEqual((await json(["notify", "inbox", "--unread"])).notifications, []);
    assert.deepEqual(await json(["notify", "unsubscribe", "ci.*"]), {});
    const bad = await colmena(["notify", "publish", "tasks.x.done", "spoof"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /forbidden/);
  } finally {
    watcher.proc?.kill("SIGTERM");
    rmSync(home, { recursive: true, force: true });
  }
});
