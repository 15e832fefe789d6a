/** @test-exclusive (scripts/run-tests.mjs: runs alone, after the others)
 * A notify replica SIGKILLed in the middle of a fan-out to 1,000 subscribers:
 * another replica redoes it, every inbox holds the notification exactly once
 * and every subscriber is pushed it (at least once: repeats carry the same
 * notification_id for the client to drop). The pushes are multicasts of 50
 * users each here (`COLMENA_NOTIFY_FANOUT_BATCH`; 4,096 by default, when
 * 1,000 users are one message), so the replica dies between two of them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { MULTICAST_SUBJECT, decodeMulticast } from "@colmena/protocol";
import { connectNats, repoRoot, silentLogger } from "@colmena/runtime";
import { startNotify, FANOUT_DURABLE, NOTIFY_STREAM } from "@colmena/notify";
import { waitUntil } from "@colmena/testing";
import { startSystem } from "./harness.ts";

const SUBSCRIBERS = 1000;
const FAST = { COLMENA_NOTIFY_FANOUT_ACK_WAIT_MS: "1500", COLMENA_NOTIFY_FANOUT_BATCH: "50" };

test("notify - a replica SIGKILLed mid-fan-out to 1,000 subscribers: each inbox gets it exactly once", async () => {
  await using sys = await startSystem({ services: [] , env: FAST });
  const js = jetstream(sys.nc);
  const jsm = await jetstreamManager(sys.nc);
  await jsm.streams.add({ name: NOTIFY_STREAM, subjects: ["notify.ev.>"] });
  // 1,000 subscriptions, written as the service writes them (one subject per user and pattern).
  const users = Array.from({ length: SUBSCRIBERS }, (_, i) => `u${i}x${randomBytes(3).toString("hex")}`);
  await Promise.all(users.map((u, i) => js.publish(`notify.ev.sub.${u}.${"0".repeat(24)}`, JSON.stringify({
    kind: "subscribed", user_id: u, username: u, topic: i % 2 ? "deploys.*" : "deploys.>", channels: ["push"], ts: Date.now(),
  }))));

  // Pushes to users, as a gateway receives them: multicasts naming `user.<id>` channels, or one user's own subject.
  const pushes = new Map<string, number>();
  let messages = 0;
  const count = (ch: string) => {
    const u = ch.slice("user.".length);
    pushes.set(u, (pushes.get(u) ?? 0) + 1);
  };
  const subs = [
    sys.nc.subscribe("colmena.push.user.*", { callback: (_e, m) => (messages++, count(m.subject.slice("colmena.push.".length))) }),
    sys.nc.subscribe(MULTICAST_SUBJECT, { callback: (_e, m) => (messages++, decodeMulticast(m.data)!.channels.forEach(count)) }),
  ];
  await sys.nc.flush();

  const child = spawn(process.execPath, ["--import", "tsx", join("services", "notify", "src", "main.ts")], {
    cwd: repoRoot(), env: { ...sys.env, ...FAST, COLMENA_INSTANCE: "doomed", COLMENA_LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once("exit", (_c, sig) => r(sig)));
  let out = "";
  child.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
  child.stderr!.on("data", (d: Buffer) => { out += d.toString(); });
  let rescuer: Awaited<ReturnType<typeof startNotify>> | undefined;
  const nc2 = await connectNats({ servers: sys.nats.url, name: "rescuer", log: silentLogger() });
  try {
    await waitUntil("the doomed replica ready", () => out.includes("notify ready"), 20_000).catch((e) => { throw new Error(`${(e as Error).message}: ${out.slice(-2000)}`); });
    const id = `n_${randomBytes(16).toString("hex")}`;
    const first = new Promise<void>((resolve) => {
      const t = setInterval(() => { if (pushes.size > 0) { clearInterval(t); child.kill("SIGKILL"); resolve(); } }, 0);
    });
    const ack = await js.publish(`notify.ev.note.${id}`, JSON.stringify({ notification_id: id, topic: "deploys.prod", title: "deployed", ts: Date.now(), by: "test" }));
    await first;
    assert.equal(await exited, "SIGKILL");
    const info = await jsm.consumers.info(NOTIFY_STREAM, FANOUT_DURABLE);
    assert.ok(info.ack_floor.stream_seq < ack.seq, "the replica died before it acknowledged the fan-out");
    assert.ok(pushes.size < SUBSCRIBERS, `the replica died mid-fan-out (${pushes.size} pushed)`);

    rescuer = await startNotify({ nc: nc2, log: silentLogger(), env: { ...sys.env, ...FAST, COLMENA_INSTANCE: "rescuer" } });
    await waitUntil("every subscriber pushed", () => users.every((u) => (pushes.get(u) ?? 0) >= 1), 20_000);
    assert.ok(messages <= 2 * SUBSCRIBERS / 50, `a push per batch, not per user (${messages} messages)`);
    const q = rescuer.view.queries;
    assert.equal(q.recipients(id).length, SUBSCRIBERS);
    for (const u of users) {
      const box = q.inbox(u, { limit: 10, unreadOnly: false }).rows;
      assert.deepEqual(box.map((n) => n.notification_id), [id], u);
    }
    await waitUntil("the fan-out acknowledged", async () => (await jsm.consumers.info(NOTIFY_STREAM, FANOUT_DURABLE)).ack_floor.stream_seq >= ack.seq, 10_000);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const sub of subs) sub.unsubscribe();
    await rescuer?.stop();
    await nc2.close();
  }
});
