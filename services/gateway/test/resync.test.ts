import { test } from "node:test";
import assert from "node:assert/strict";
import { sessionResync, userChannel } from "@colmena/protocol";
import { publishEvent } from "@colmena/runtime";
import { startRig, until } from "./helpers.ts";

test("resync - when its NATS connection drops, a gateway tells each connection holding channels session.resync, and pushes flow again after the reconnect", async () => {
  await using rig = await startRig();
  const ana = await rig.login("ua", "ana");
  const ws = await rig.ws(rig.gw, { token: await rig.token("ub", "bob") });
  const anonymous = await rig.tcp();
  assert.equal((await anonymous.request("ping")).ok, true);

  await rig.ns.restart();
  for (const c of [ana, ws]) assert.deepEqual(await c.event(sessionResync.event, 15_000), { event: sessionResync.event, data: { reason: "nats_disconnect" } });
  assert.ok(await anonymous.none((f) => f.event === sessionResync.event), "a connection with no channel is not told");

  // The connection, its login and its channel stood through the gap: a push after the reconnect arrives.
  await until(async () => {
    publishEvent(rig.nc, userChannel("ua"), "test.after", { n: 1 });
    return (await ana.none((f) => f.event === "test.after", 200)) === false;
  }, 15_000, "a push after the reconnect");
});
