import { test } from "node:test";
import assert from "node:assert/strict";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { Headers, pushSubject, userChannel } from "@colmena/protocol";
import { publishEvent } from "@colmena/runtime";
import { WsClient, startRig, subsOn, until, type Client } from "./helpers.ts";

test("channels - a push on a user's channel reaches every connection of that user on two gateways and none of another user's", async () => {
  await using rig = await startRig({ gateways: 2 });
  const [g1, g2] = rig.gateways;
  const a1 = await rig.login("ua", "ana", g1);
  const a2 = await rig.login("ua", "ana", g1);
  const a3 = await rig.ws(g2, { token: await rig.token("ua", "ana") });
  const b1 = await rig.login("ub", "bob", g1);
  const b2 = await rig.ws(g2, { token: await rig.token("ub", "bob") });
  // One NATS subscription per channel per gateway, however many connections share it.
  await until(async () => (await subsOn(rig.ns.monitorUrl, "colmena.push.user.ua")) === 2, 5000, "subscriptions");

  publishEvent(rig.nc, userChannel("ua"), "test.hello", { n: 1, s: "ñ" });
  for (const c of [a1, a2, a3]) assert.deepEqual(await c.event("test.hello"), { event: "test.hello", data: { n: 1, s: "ñ" } });
  for (const c of [b1, b2]) assert.ok(await c.none((f) => f.event === "test.hello"), "another user's connection got the push");

  // Closing connections drops the NATS subscription when the last one on a gateway goes.
  await a1.close();
  await a2.close();
  await until(async () => (await subsOn(rig.ns.monitorUrl, "colmena.push.user.ua")) === 1, 5000, "unsubscribe after close");
});

test("channels - Colmena-Exclude-Conn keeps a push from the connection that caused it", async () => {
  await using rig = await startRig({ gateways: 2 });
  const [g1, g2] = rig.gateways;
  const a1 = await rig.login("ux", "xia", g1);
  const a2 = await rig.login("ux", "xia", g1);
  const a3 = await rig.login("ux", "xia", g2);
  const r = await a1.request("diag.push", { channel: "self", event: "test.mine", data: { from: "a1" }, exclude_self: true });
  assert.equal(r.ok, true);
  for (const c of [a2, a3]) assert.deepEqual((await c.event("test.mine")).data, { from: "a1" });
  assert.ok(await a1.none((f) => f.event === "test.mine"), "the excluded connection got its own push");
  // Without exclusion the sender gets it too.
  await a1.request("diag.push", { channel: "self", event: "test.all" });
  assert.deepEqual((await a1.event("test.all")).data, {});
});

test("channels - a Colmena-Subscribe reply header subscribes the connection; Colmena-Unsubscribe leaves", async () => {
  await using rig = await startRig();
  const a = await rig.login("u1", "ana");
  const b = await rig.login("u2", "bob");
  const c = await rig.login("u3", "cid");
  const subject = "colmena.push.diag.room1";
  assert.equal((await a.request("diag.subscribe", { channel: "diag.room1" })).ok, true);
  assert.equal((await b.request("diag.subscribe", { channel: "diag.room1" })).ok, true);
  assert.equal(await subsOn(rig.ns.monitorUrl, subject), 1, "one NATS subscription for two connections");
  assert.equal((await c.request("diag.subscribe", { channel: "user.u1" })).error.code, "bad_request", "diag may not reach user channels");

  await c.request("diag.push", { channel: "diag.room1", event: "room.msg", data: { body: "hi" } });
  for (const x of [a, b]) assert.deepEqual((await x.event("room.msg")).data, { body: "hi" });
  assert.ok(await c.none((f) => f.event === "room.msg"));

  assert.equal((await a.request("diag.unsubscribe", { channel: "diag.room1" })).ok, true);
  await c.request("diag.push", { channel: "diag.room1", event: "room.msg2" });
  assert.ok((await b.event("room.msg2")).event);
  assert.ok(await a.none((f) => f.event === "room.msg2"), "unsubscribed connection still got the push");

  await b.close();
  await until(async () => (await subsOn(rig.ns.monitorUrl, subject)) === 0, 5000, "last member gone");
});

test("channels - IPv4 127.0.0.1 and IPv6 ::1 reach the same dual-stack listeners", async () => {
  await using rig = await startRig();
  const v4 = await rig.tcp(rig.gw, "127.0.0.1");
  const v6 = await rig.tcp(rig.gw, "::1");
  const clients: Client[] = [v4, v6];
  for (const c of clients) assert.equal((await c.request("auth.token", { access_token: await rig.token("u-ip", "ip") })).ok, true);
  const ws6 = await WsClient.open(rig.gw.ports.http, { host: "[::1]", token: await rig.token("u-ip", "ip") });
  try {
    clients.push(ws6);
    // A forwarded request orders after the connect-time channel subscription on the gateway's NATS connection.
    assert.equal((await ws6.request("diag.echo", {})).ok, true);
    publishEvent(rig.nc, userChannel("u-ip"), "test.ip", { ok: true });
    for (const c of clients) assert.deepEqual((await c.event("test.ip")).data, { ok: true });
    const h4 = await fetch(`http://127.0.0.1:${rig.gw.ports.http}/healthz`);
    const h6 = await fetch(`http://[::1]:${rig.gw.ports.http}/healthz`);
    assert.equal(h4.status, 200);
    assert.equal(h6.status, 200);
  } finally {
    await ws6.close();
  }
});

test("channels - a member dropped as a slow consumer during a push does not cost the members after it that push", async () => {
  // A 1 MiB bound; the paused member overflows it, since 12 MB are pushed. The healthy ones read each
  // batch of 8 pushes (800 KB) before the next is published, so however busy the machine, only the
  // paused one falls behind (with all 12 MB published at once, a healthy reader was once dropped too).
  await using rig = await startRig({ overrides: { outbufBytes: 1024 * 1024 } });
  // Same user, so the same channel; the paused one joined first, so a push reaches it first.
  const slow = await rig.login("u-many", "many");
  const others = [await rig.login("u-many", "many"), await rig.login("u-many", "many")];
  slow.socket.pause();
  const pad = "x".repeat(100 * 1024);
  const total = 120;
  const batch = 8;
  for (let from = 0; from < total; from += batch) {
    for (let i = from; i < from + batch; i++) publishEvent(rig.nc, userChannel("u-many"), "test.n", { i, pad });
    await rig.nc.flush();
    for (const c of others) {
      for (let i = from; i < from + batch; i++) assert.equal((await c.event("test.n", 10_000)).data.i, i);
    }
  }
  await until(() => rig.gw.connections() === 2, 5000, "the slow connection to be dropped");
});

test("channels - a push body holding a raw newline still reaches TCP and WebSocket clients as one frame", async () => {
  await using rig = await startRig();
  const tcp = await rig.login("u-nl", "nl");
  const ws = await rig.ws();
  assert.equal((await ws.request("auth.token", { access_token: await rig.token("u-nl") })).ok, true);
  const h = natsHeaders();
  h.set(Headers.event, "test.nl");
  rig.nc.publish(pushSubject(userChannel("u-nl")), '{\n  "a": 1,\n  "b": "x"\n}', { headers: h });
  h.set(Headers.event, "test.flat");
  rig.nc.publish(pushSubject(userChannel("u-nl")), '{"a":2}', { headers: h });
  for (const c of [tcp, ws]) {
    assert.deepEqual((await c.event("test.nl")).data, { a: 1, b: "x" });
    assert.deepEqual((await c.event("test.flat")).data, { a: 2 });
  }
});
