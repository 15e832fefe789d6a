import { test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ALL_CONN_LIFECYCLE,
  ALL_GATEWAY_HEARTBEATS,
  ColmenaError,
  authOps,
  connClosed,
  connOpened,
  gatewayDeadline,
  gatewayHeartbeat,
  type ConnClosed,
  type ConnOpened,
  type GatewayHeartbeat,
} from "@colmena/protocol";
import { ServiceHost, silentLogger } from "@colmena/runtime";
import { startGateway } from "@colmena/gateway";
import { sleep, startRig, until, type Rig } from "./helpers.ts";

type Announcement = (ConnOpened & { kind: "opened" }) | (ConnClosed & { kind: "closed" });

/** Everything gateways announce on NATS, parsed with the protocol's schemas (a payload that fails them fails the test). */
async function listen(nc: NatsConnection) {
  const announced: Announcement[] = [];
  const beats: (GatewayHeartbeat & { at: number })[] = [];
  nc.subscribe(ALL_CONN_LIFECYCLE, {
    callback: (_e, m) => {
      const kind = m.subject.split(".")[3];
      if (kind === "opened") announced.push({ kind, ...connOpened.strict().parse(m.json()) });
      else if (kind === "closed") announced.push({ kind, ...connClosed.strict().parse(m.json()) });
      else throw new Error(`unexpected subject ${m.subject}`);
    },
  });
  nc.subscribe(ALL_GATEWAY_HEARTBEATS, { callback: (_e, m) => void beats.push({ ...gatewayHeartbeat.strict().parse(m.json()), at: Date.now() }) });
  await nc.flush();
  const next = async (n: number) => {
    await until(() => announced.length >= n, 5000, `${n} announcements`);
    return announced[n - 1];
  };
  return { announced, beats, next };
}

/** A stand-in auth service, as auth.test.ts uses: login issues a token signed with the rig's key. */
async function standInAuth(rig: Rig) {
  const auth = await ServiceHost.start({ nc: rig.nc, name: "auth", version: "0.0.0", log: silentLogger() });
  auth
    .handle(authOps["auth.login"], async (data) => {
      if (data.password !== "secretpass") throw new ColmenaError("unauthorized", "wrong username or password");
      return { user_id: `u-${data.username}`, username: data.username, access_token: await rig.token(`u-${data.username}`, data.username), refresh_token: "r", expires_in: 300 };
    })
    .handle(authOps["auth.logout"], () => ({}));
  await rig.nc.flush();
  return auth;
}

test("lifecycle - a gateway announces each session's open and close: token, other user, logout, login, disconnect, connect token, shutdown", async () => {
  await using rig = await startRig();
  const { announced, next } = await listen(rig.nc);
  const auth = await standInAuth(rig);
  try {
    const gw = rig.gw.id;
    const anon = await rig.tcp();
    assert.equal((await anon.request("ping")).ok, true);
    await anon.close();

    const c = await rig.tcp();
    assert.equal((await c.request("auth.token", { access_token: await rig.token("u1", "ana") })).ok, true);
    const opened = await next(1);
    assert.deepEqual({ ...opened, ts: 0 }, { kind: "opened", gateway_id: gw, seq: 1, ts: 0, conn_id: opened.conn_id, user_id: "u1", username: "ana" });
    assert.ok(opened.conn_id.startsWith(`${gw}-`), opened.conn_id);
    const connId = opened.conn_id;

    // The same user again (a refreshed token) is the same session: nothing new.
    assert.equal((await c.request("auth.token", { access_token: await rig.token("u1", "ana") })).ok, true);
    // Another user on the same connection closes the first session and opens another.
    assert.equal((await c.request("auth.token", { access_token: await rig.token("u2", "bea") })).ok, true);
    assert.deepEqual(pick(await next(2)), { kind: "closed", seq: 2, conn_id: connId, user_id: "u1", reason: "replaced" });
    assert.deepEqual(pick(await next(3)), { kind: "opened", seq: 3, conn_id: connId, user_id: "u2" });

    assert.equal((await c.request("auth.logout")).ok, true);
    assert.deepEqual(pick(await next(4)), { kind: "closed", seq: 4, conn_id: connId, user_id: "u2", reason: "logout" });

    assert.equal((await c.request("auth.login", { username: "cai", password: "secretpass" })).ok, true);
    assert.deepEqual(pick(await next(5)), { kind: "opened", seq: 5, conn_id: connId, user_id: "u-cai" });
    await c.close();
    assert.deepEqual(pick(await next(6)), { kind: "closed", seq: 6, conn_id: connId, user_id: "u-cai", reason: "disconnect" });

    const ws = await rig.ws(rig.gw, { token: await rig.token("u3", "dan") });
    const wsOpened = await next(7);
    assert.deepEqual(pick(wsOpened), { kind: "opened", seq: 7, conn_id: wsOpened.conn_id, user_id: "u3" });
    await rig.gw.stop();
    assert.deepEqual(pick(await next(8)), { kind: "closed", seq: 8, conn_id: wsOpened.conn_id, user_id: "u3", reason: "shutdown" });
    await ws.closed;
    await sleep(100);
    assert.equal(announced.length, 8, "an unauthenticated connection is never announced");
  } finally {
    await auth.stop();
  }
});

function pick(a: Announcement) {
  const out: Record<string, unknown> = { kind: a.kind, seq: a.seq, conn_id: a.conn_id, user_id: a.user_id };
  if (a.kind === "closed") out.reason = a.reason;
  return out;
}

test("lifecycle - every gateway heartbeats each interval with its counts; a stopped one falls silent past its deadline", async () => {
  await using rig = await startRig({ gateways: 2, heartbeatMs: 100 });
  const { beats } = await listen(rig.nc);
  const [a, b] = rig.gateways;
  const c1 = await rig.login("u1", "ana", a);
  await rig.tcp(a);
  const last = (gw: string) => beats.filter((h) => h.gateway_id === gw).at(-1);
  await until(() => last(a.id)?.sessions === 1 && last(a.id)?.connections === 2, 5000, "a's heartbeat counts one session of two connections");
  await until(() => last(b.id)?.connections === 0, 5000, "b's heartbeat");
  assert.equal(last(a.id)!.interval_ms, 100);
  assert.equal(last(a.id)!.seq, 1, "the heartbeat tells the latest announcement");
  const startedAt = last(a.id)!.started_at;
  await c1.close();
  await until(() => last(a.id)?.sessions === 0, 5000, "a's heartbeat counts no session");
  assert.equal(last(a.id)!.started_at, startedAt);

  // Heartbeats come once per interval, not in bursts.
  const before = beats.filter((h) => h.gateway_id === b.id).length;
  await sleep(550);
  const during = beats.filter((h) => h.gateway_id === b.id).length - before;
  assert.ok(during >= 3 && during <= 7, `b sent ${during} heartbeats in 550 ms at 100 ms`);

  await b.stop();
  const stoppedAt = Date.now();
  const lastB = last(b.id)!;
  await sleep(gatewayDeadline(lastB, lastB.at) - Date.now() + 100);
  assert.equal(last(b.id), lastB, "no heartbeat after stop");
  assert.ok(Date.now() > gatewayDeadline(lastB, lastB.at), "a listener presumes b dead");
  assert.ok(last(a.id)!.at > stoppedAt, "a is still beating");
});

test("lifecycle - after its NATS connection comes back, a gateway announces its open sessions again", async () => {
  await using rig = await startRig({ gateways: 0 });
  // The gateway shares the listener's NATS connection, so the listener's subscription is back (resent on
  // reconnect before anything else) when the gateway announces: no race between two connections.
  const gw = await startGateway({ nc: rig.nc, log: silentLogger(), env: {}, overrides: { host: "::", tcpPort: 0, httpPort: 0 } });
  try {
    const { announced } = await listen(rig.nc);
    await rig.login("u1", "ana", gw);
    await until(() => announced.length === 1, 5000, "the session announced");
    await rig.ns.restart();
    await until(() => announced.length === 2, 15_000, "the session announced again after the reconnect");
    assert.deepEqual(pick(announced[1]), { kind: "opened", seq: 2, conn_id: announced[0].conn_id, user_id: "u1" });
  } finally {
    await gw.stop();
  }
});
