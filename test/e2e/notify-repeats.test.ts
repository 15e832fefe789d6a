/**
 * The SDK drops a repeated `notify.event`: a real repeat, not a simulated
 * one. The fan-out durable is removed while notify is down; the restarted
 * service creates it again from the stream's start and fans every stored
 * notification out a second time, so the gateway pushes the same
 * notification again. A raw connection of the same user sees both pushes;
 * the SDK client emits one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { rawTcp } from "@colmena/client";
import { FANOUT_DURABLE, NOTIFY_STREAM } from "@colmena/notify";
import { waitUntil } from "@colmena/testing";
import { startSystem } from "./harness.ts";

test("notify SDK - a notify.event pushed twice (the fan-out redone) is emitted once", async () => {
  await using sys = await startSystem({ services: ["auth", "notify"] });
  const ana = await sys.user({ prefix: "ana" });
  const bob = await sys.user({ prefix: "bob" });
  const topic = `rep${Math.random().toString(36).slice(2, 8)}`;
  await ana.client.request("notify.subscribe", { topic });

  const emitted: string[] = [];
  ana.client.on("notify.event", (d) => emitted.push(d.notification_id));
  const raw = await rawTcp(sys.gateway.tcpUrl);
  raw.write(JSON.stringify({ id: 0, op: "auth.token", data: { access_token: ana.accessToken } }) + "\n");
  assert.equal((await raw.json()).ok, true);
  const pushed: string[] = [];
  void (async () => {
    for (;;) {
      const f = await raw.json(60_000).catch(() => null);
      if (!f) return;
      if (f.event === "notify.event") pushed.push(f.data.notification_id);
    }
  })();

  const { notification_id: id } = await bob.client.request<{ notification_id: string }>("notify.publish", { topic, title: "once" });
  await waitUntil("the first push", () => pushed.length === 1 && emitted.length === 1, 10_000);

  await sys.stopService("notify");
  await (await jetstreamManager(sys.nc)).consumers.delete(NOTIFY_STREAM, FANOUT_DURABLE);
  await sys.restart("notify");
  await waitUntil("the repeated push", () => pushed.length === 2, 15_000);
  assert.deepEqual(pushed, [id, id], "the gateway pushed the same notification twice");

  // A later notification arrives after the repeat went through the same connection path.
  const { notification_id: next } = await bob.client.request<{ notification_id: string }>("notify.publish", { topic, title: "next" });
  await waitUntil("the next notification", () => emitted.includes(next) && pushed.includes(next), 10_000);
  assert.deepEqual(emitted, [id, next], "the SDK emitted the repeat once");
  raw.close();
});
