import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsStartError, ensureNatsServer, launchNats, natsConfig } from "@colmena/runtime";

test("nats launcher - a config the server refuses fails the start with the server's reason, and leaves no process", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "colmena-launch-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, "bad.conf");
  writeFileSync(conf, natsConfig({ serverName: "bad", port: -1, monitorPort: -1 }) + "no_such_option: 1\n");
  await assert.rejects(launchNats({ bin: ensureNatsServer(), config: conf, portsDir: join(dir, "ports") }), (err: Error) => {
    assert.ok(err instanceof NatsStartError);
    assert.match(err.message, /exited at start.*no_such_option/);
    return true;
  });
});

test("nats launcher - a started server answers on the ports it chose and stops cleanly", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "colmena-launch-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, "n.conf");
  writeFileSync(conf, natsConfig({ serverName: "ok", port: -1, monitorPort: -1, storeDir: join(dir, "js") }));
  let spawned = 0;
  const p = await launchNats({ bin: ensureNatsServer(), config: conf, portsDir: join(dir, "ports"), onSpawn: (pid) => (spawned = pid) });
  assert.equal(spawned, p.pid);
  assert.match(p.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((await fetch(`${p.monitorUrl}/healthz`)).status, 200);
  assert.equal((await p.stop()).clean, true);
  assert.equal(p.running(), false);
});

test("nats launcher - a binary under another name (NATS_SERVER_BIN=/opt/nats-2.15) is found ready by its own ports file", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "colmena-launch-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, "nats-2.15");
  symlinkSync(ensureNatsServer(), bin);
  const conf = join(dir, "n.conf");
  writeFileSync(conf, natsConfig({ serverName: "renamed", port: -1, monitorPort: -1 }));
  const p = await launchNats({ bin, config: conf, portsDir: join(dir, "ports"), startTimeoutMs: 10_000 });
  assert.equal((await fetch(`${p.monitorUrl}/healthz`)).status, 200);
  assert.equal((await p.stop()).clean, true);
});
