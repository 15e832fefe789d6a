/** The `colmena notify` command group against a running system. */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { uniqueName, waitUntil } from "@colmena/testing";
import { Cli, running } from "./cli-runner.ts";
import { startSystem } from "./harness.ts";

test("cli - notify subscribe, publish, inbox, read, unsubscribe and watch", async () => {
  await using sys = await startSystem({ services: ["auth", "notify"] });
  using cli = new Cli(sys.gateway.tcpUrl);
  const colmena = (args: string[]) => cli.run(args);
  const json = (args: string[]) => cli.json(args);
  let watcher: ChildProcess | undefined;
  try {
    const user = uniqueName("clinote");
    assert.equal((await colmena(["register", user])).code, 0);
    assert.equal((await colmena(["login", user])).code, 0);
    assert.deepEqual(await json(["notify", "subscribe", "ci.*"]), { topic: "ci.*", channels: ["push"] });
    assert.deepEqual((await json(["notify", "subscriptions"])).subscriptions.map((s: { topic: string }) => s.topic), ["ci.*"]);

    watcher = cli.spawn(["notify", "watch"]);
    const watching = running(watcher);
    await waitUntil("the watcher", () => watching.stderr().includes("watching"), 20_000);

    const pub = await json(["notify", "publish", "ci.deploy", "deploy finished", "all green"]);
    assert.equal(pub.recipients, 1);
    await waitUntil("the watched event", () => watching.stdout().includes(pub.notification_id), 10_000);
    const box = await json(["notify", "inbox", "--unread"]);
    assert.deepEqual(box.notifications.map((n: { notification_id: string; body: string }) => [n.notification_id, n.body]), [[pub.notification_id, "all green"]]);
    assert.deepEqual(await json(["notify", "read", pub.notification_id]), {});
    assert.deepEqual((await json(["notify", "inbox", "--unread"])).notifications, []);
    assert.deepEqual(await json(["notify", "unsubscribe", "ci.*"]), {});
    const bad = await colmena(["notify", "publish", "tasks.x.done", "spoof"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /forbidden/);
  } finally {
    watcher?.kill("SIGTERM");
  }
});
