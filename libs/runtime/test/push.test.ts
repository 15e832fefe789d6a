import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Headers, PUSH_ROOT } from "@colmena/protocol";
import { publishEvent } from "@colmena/runtime";
import { startNats, waitUntil } from "@colmena/testing";

test("push - one publishEvent reaches every user's channel and every named channel with the same event, data and exclusion", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  try {
    const got: { subject: string; event?: string; exclude?: string; data: string }[] = [];
    nc.subscribe(`${PUSH_ROOT}.>`, {
      callback: (_e, m) => void got.push({ subject: m.subject, event: m.headers?.get(Headers.event), exclude: m.headers?.get(Headers.excludeConn) || undefined, data: m.string() }),
    });
    await nc.flush();
    const data = { task_id: "t_1", result: { n: "ñ" }, worker: "w-1", seq: 7 };
    publishEvent(nc, { users: ["u-a", "u-b"], channels: ["room.lobby"] }, "task.done", data, { excludeConn: "gw-1-1" });
    publishEvent(nc, "diag.x", "diag.ping", { i: 1 });
    await waitUntil("four pushes", () => got.length === 4, 5000);
    const subjects = got.map((g) => g.subject).sort();
    assert.deepEqual(subjects, ["colmena.push.diag.x", "colmena.push.room.lobby", "colmena.push.user.u-a", "colmena.push.user.u-b"]);
    for (const g of got.filter((x) => x.event === "task.done")) {
      assert.deepEqual(JSON.parse(g.data), data);
      assert.equal(g.exclude, "gw-1-1");
    }
    assert.equal(got.filter((x) => x.event === "task.done").length, 3);
    assert.deepEqual(got.find((x) => x.event === "diag.ping")!, { subject: "colmena.push.diag.x", event: "diag.ping", exclude: undefined, data: '{"i":1}' });
    // A user id that is not a subject token never becomes a subject, and the push goes nowhere.
    assert.throws(() => publishEvent(nc, { users: ["u-ok", "a.b"] }, "task.failed", { task_id: "t", error: "x", seq: 1 }), { code: "bad_request" });
    await nc.flush();
    assert.equal(got.length, 4);
  } finally {
    await nc.close();
  }
});
