import { test } from "node:test";
import assert from "node:assert/strict";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { Headers, MULTICAST_SUBJECT, encodeMulticast } from "@colmena/protocol";
import { publishEvent } from "@colmena/runtime";
import { startRig, subsOn, type Client } from "./helpers.ts";

/** Every frame of an event a client has received by now (after a pause for stragglers). */
async function countOf(c: Client, event: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 300));
  return c.inbox.drain().filter((f) => f.event === event).length;
}

test("multicast - one message per gateway reaches every connection of the named users and channels, once each, and no one else", async () => {
  await using rig = await startRig({ gateways: 2 });
  const [g1, g2] = rig.gateways;
  const a1 = await rig.login("ua", "ana", g1);
  const a2 = await rig.login("ua", "ana", g1);
  const a3 = await rig.ws(g2, { token: await rig.token("ua", "ana") });
  const b1 = await rig.login("ub", "bob", g2);
  const c1 = await rig.login("uc", "cid", g1);
  const d1 = await rig.login("ud", "dan", g2);
  // a1 is in two of the named channels (its user's and diag.m1): it gets the push once.
  assert.equal((await a1.request("diag.subscribe", { channel: "diag.m1" })).ok, true);
  assert.equal((await d1.request("diag.subscribe", { channel: "diag.m1" })).ok, true);
  // One multicast subscription per gateway, whatever its connections.
  assert.equal(await subsOn(rig.ns.monitorUrl, MULTICAST_SUBJECT), 2);

  const seen: number[] = [];
  const tap = rig.nc.subscribe("colmena.push.>", { callback: (_e, m) => void seen.push(m.data.length) });
  await rig.nc.flush();
  publishEvent(rig.nc, { users: ["ua", "ub", "u-nobody"], channels: ["diag.m1"] }, "test.multi", { n: 1, s: "ñ\n" });
  for (const c of [a1, a2, a3, b1, d1]) assert.deepEqual((await c.event("test.multi")).data, { n: 1, s: "ñ\n" });
  for (const c of [a1, a2, a3, b1, d1]) assert.equal(await countOf(c, "test.multi"), 0, "a connection got the push twice");
  assert.ok(await c1.none((f) => f.event === "test.multi"), "a user not named got the push");
  assert.equal(seen.length, 1, "four channels, one NATS message");
  tap.unsubscribe();

  // More channels than one message holds: several messages, each delivered; a user in the last batch gets it once.
  const many = [...Array.from({ length: 5000 }, (_, i) => `u-${i}`), "ub"];
  publishEvent(rig.nc, { users: many }, "test.many", { ok: true });
  assert.deepEqual((await b1.event("test.many")).data, { ok: true });
  assert.equal(await countOf(b1, "test.many"), 0);
  assert.ok(await a1.none((f) => f.event === "test.many"));
});

test("multicast - Colmena-Exclude-Conn holds for a multicast, and a malformed one is dropped without harm", async () => {
  await using rig = await startRig();
  const a1 = await rig.login("ue", "eva");
  const a2 = await rig.login("ue", "eva");
  const b1 = await rig.login("uf", "fay");
  // A request id is `<connection id>-<n>`.
  const echo = await a1.request("diag.echo", {});
  const a1Conn = String(echo.data.request_id).replace(/-\d+$/u, "");

  const h = natsHeaders();
  h.set(Headers.event, "test.bad");
  rig.nc.publish(MULTICAST_SUBJECT, new TextEncoder().encode("user.ue user.uf"), { headers: h }); // no newline: not a multicast
  const noEvent = encodeMulticast(["user.ue"], new TextEncoder().encode("{}"));
  rig.nc.publish(MULTICAST_SUBJECT, noEvent[0]); // no event name: dropped
  await rig.nc.flush();

  // The gateway still delivers, and the exclusion holds across the named users.
  publishEvent(rig.nc, { users: ["ue", "uf"] }, "test.after", { i: 2 }, { excludeConn: a1Conn });
  for (const c of [a2, b1]) assert.deepEqual((await c.event("test.after")).data, { i: 2 });
  assert.ok(await a1.none((f) => f.event === "test.after"), "the excluded connection got the push");
  assert.ok(await b1.none((f) => f.event === "test.bad"), "a malformed multicast reached a user not in it");
});
