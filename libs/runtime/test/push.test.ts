import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Headers, MULTICAST_SUBJECT, PUSH_ROOT, decodeMulticast } from "@colmena/protocol";
import { publishEvent } from "@colmena/runtime";
import { startNats, waitUntil } from "@colmena/testing";

test("push - one channel is one message on its subject; several are one multicast naming them all, with the same event, data and exclusion", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  try {
    const got: { subject: string; event?: string; exclude?: string; data: Uint8Array }[] = [];
    nc.subscribe(`${PUSH_ROOT}.>`, {
      callback: (_e, m) => void got.push({ subject: m.subject, event: m.headers?.get(Headers.event), exclude: m.headers?.get(Headers.excludeConn) || undefined, data: m.data }),
    });
    await nc.flush();
    const data = { task_id: "t_1", result: { n: "ñ" }, worker: "w-1", seq: 7 };
    publishEvent(nc, { users: ["u-a", "u-b"], channels: ["room.lobby"] }, "task.done", data, { excludeConn: "gw-1-1" });
    publishEvent(nc, "diag.x", "diag.ping", { i: 1 });
    publishEvent(nc, { users: ["u-c"] }, "task.progress", { task_id: "t_2", progress: 0.5, seq: 8 });
    await waitUntil("three pushes", () => got.length === 3, 5000);
    const [multi, single, user] = got;
    assert.equal(multi.subject, MULTICAST_SUBJECT);
    assert.equal(multi.event, "task.done");
    assert.equal(multi.exclude, "gw-1-1");
    const m = decodeMulticast(multi.data)!;
    assert.deepEqual(m.channels, ["user.u-a", "user.u-b", "room.lobby"]);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(m.data)), data);
    assert.deepEqual({ ...single, data: new TextDecoder().decode(single.data) }, { subject: "colmena.push.diag.x", event: "diag.ping", exclude: undefined, data: '{"i":1}' });
    assert.equal(user.subject, "colmena.push.user.u-c");
    // A user id that is not a subject token, or a channel that is not a channel, never becomes a subject, and the push goes nowhere.
    assert.throws(() => publishEvent(nc, { users: ["u-ok", "a.b"] }, "task.failed", { task_id: "t", error: "x", seq: 1 }), { code: "bad_request" });
    assert.throws(() => publishEvent(nc, { users: ["u-ok"], channels: ["multicast"] }, "task.failed", { task_id: "t", error: "x", seq: 1 }), { code: "bad_request" });
    assert.throws(() => publishEvent(nc, "room.a b", "diag.ping", {}), { code: "bad_request" });
    await nc.flush();
    assert.equal(got.length, 3);
  } finally {
    await nc.close();
  }
});
