import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { ColmenaError, Headers, authOps, userChannel } from "@colmena/protocol";
import { ServiceHost, generateSigningKey, publishEvent, signAccessToken, silentLogger } from "@colmena/runtime";
import { startNats } from "@colmena/testing";
import { startGateway } from "@colmena/gateway";
import { startDiag } from "@colmena/diag";
import { TcpClient, WsClient, startRig, until } from "./helpers.ts";

/** Flips one character of the token's payload: the signature no longer matches. */
function tamper(token: string): string {
  const [h, p, s] = token.split(".");
  const i = Math.floor(p.length / 2);
  return [h, p.slice(0, i) + (p[i] === "A" ? "B" : "A") + p.slice(i + 1), s].join(".");
}

test("auth - auth.token authenticates the connection; whoami and hello tell the user", async () => {
  await using rig = await startRig();
  const c = await rig.tcp();
  const r = await c.request("auth.token", { access_token: await rig.token("u1", "ana") });
  assert.deepEqual(r.data, { user_id: "u1", username: "ana" });
  assert.deepEqual((await c.request("auth.whoami")).data, { user_id: "u1", username: "ana" });
  assert.deepEqual((await c.request("hello")).data.user, { user_id: "u1", username: "ana" });
  const echo = await c.request("diag.echo", { payload: { deep: [1, { x: null }] } });
  assert.deepEqual(echo.data.payload, { deep: [1, { x: null }] });
  assert.equal(echo.data.user_id, "u1");
});

test("auth - expired, tampered, foreign-key and garbage tokens are unauthorized", async () => {
  await using rig = await startRig();
  const c = await rig.tcp();
  const expired = await rig.token("u1", "ana", -10);
  const foreign = await signAccessToken(generateSigningKey(), { userId: "u1", username: "ana", family: "f" }, 300);
  for (const [what, tok] of [["expired", expired], ["tampered", tamper(await rig.token("u1"))], ["foreign key", foreign], ["garbage", "a.b.c"]]) {
    const r = await c.request("auth.token", { access_token: tok });
    assert.equal(r.error?.code, "unauthorized", what);
  }
  assert.match((await c.request("auth.token", { access_token: expired })).error.message, /expired/);
  assert.equal((await c.request("diag.echo", {})).error.code, "unauthorized", "still not logged in");
});

test("auth - after the token expires, user ops answer unauthorized until auth.token", async () => {
  await using rig = await startRig();
  const c = await rig.tcp();
  const r = await c.request("auth.token", { access_token: await rig.token("u-exp", "eva", 2) });
  assert.equal(r.ok, true);
  assert.equal((await c.request("diag.echo", {})).ok, true);
  let refused: Record<string, any> | undefined;
  await until(async () => {
    const e = await c.request("diag.echo", {});
    if (!e.ok) refused = e;
    return !e.ok;
  }, 5000, "token expiry");
  assert.equal(refused!.error.code, "unauthorized");
  assert.match(refused!.error.message, /token expired; refresh and send auth\.token/);
  assert.equal((await c.request("auth.token", { access_token: await rig.token("u-exp", "eva") })).ok, true);
  assert.equal((await c.request("diag.echo", {})).ok, true);
});

test("auth - a WebSocket authenticates at connect with ?token= or a Bearer header; a bad token is refused with 401", async () => {
  await using rig = await startRig();
  const a = await rig.ws(undefined, { token: await rig.token("u-ws", "wsuser") });
  assert.deepEqual((await a.request("auth.whoami")).data, { user_id: "u-ws", username: "wsuser" });
  const b = await rig.ws(undefined, { bearer: await rig.token("u-ws2", "bearer") });
  assert.deepEqual((await b.request("auth.whoami")).data, { user_id: "u-ws2", username: "bearer" });
  await assert.rejects(WsClient.open(rig.gw.ports.http, { token: tamper(await rig.token("u-ws")) }), /401/);
  await assert.rejects(WsClient.open(rig.gw.ports.http, { token: await rig.token("u-ws", "x", -5) }), /401/);
  await assert.rejects(WsClient.open(rig.gw.ports.http, { bearer: "not-a-jwt" }), /401/);
  // The authenticated WebSocket gets its user's pushes.
  await a.request("diag.push", { channel: "self", event: "diag.ws", data: { ok: 1 } });
  assert.deepEqual((await a.event("diag.ws")).data, { ok: 1 });
});

test("auth - a public key from COLMENA_JWT_PUBLIC_KEY verifies tokens whatever their kid", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  const key = generateSigningKey();
  const pem = key.publicKey.export({ type: "spki", format: "pem" }).toString();
  const gw = await startGateway({ nc, log: silentLogger(), env: { COLMENA_JWT_PUBLIC_KEY: pem, COLMENA_TCP_PORT: "0", COLMENA_HTTP_PORT: "0" } });
  const diag = await startDiag({ nc, log: silentLogger() });
  const c = await TcpClient.open(gw.ports.tcp);
  try {
    const ok = await c.request("auth.token", { access_token: await signAccessToken(key, { userId: "p1", username: "pem", family: "f" }, 60) });
    assert.deepEqual(ok.data, { user_id: "p1", username: "pem" });
    const other = await signAccessToken(generateSigningKey(), { userId: "p1", username: "pem", family: "f" }, 60);
    assert.equal((await c.request("auth.token", { access_token: other })).error.code, "unauthorized");
  } finally {
    await c.close();
    await diag.stop();
    await gw.stop();
    await nc.close();
  }
});

test("auth - sys.services lists running services for admins and is forbidden to others", async () => {
  await using rig = await startRig({ overrides: { admins: "root, Boss" } });
  const admin = await rig.login("u-admin", "boss");
  const user = await rig.login("u-plain", "plain");
  const anon = await rig.tcp();
  assert.equal((await anon.request("sys.services")).error.code, "unauthorized");
  assert.equal((await user.request("sys.services")).error.code, "forbidden");
  await admin.request("diag.echo", { payload: 1 });
  const r = await admin.request("sys.services");
  assert.equal(r.ok, true);
  const diag = r.data.services.find((s: { name: string }) => s.name === "diag");
  assert.ok(diag, JSON.stringify(r.data));
  assert.equal(diag.id, rig.diag!.id);
  assert.equal(diag.version, "0.1.0");
  const echo = diag.endpoints.find((e: { name: string }) => e.name === "diag.echo");
  assert.ok(echo, JSON.stringify(diag.endpoints));
  assert.equal(echo.subject, "colmena.diag.echo");
  assert.ok(echo.num_requests >= 1);
  assert.equal(typeof echo.average_processing_time_ms, "number");
  assert.ok(echo.average_processing_time_ms > 0 && echo.average_processing_time_ms < 1000, String(echo.average_processing_time_ms));
});

test("auth - auth.login and auth.logout go to the auth service; no auth instance is unavailable", async () => {
  await using rig = await startRig();
  const c = await rig.tcp();
  assert.equal((await c.request("auth.login", { username: "ana", password: "secretpass" })).error.code, "unavailable");

  // A stand-in auth service (the real one is its own package): login issues a
  // token signed with the rig's key; logout records the token family it got.
  const families: (string | undefined)[] = [];
  const auth = await ServiceHost.start({ nc: rig.nc, name: "auth", version: "0.0.0", log: silentLogger() });
  try {
    auth
      .handle(authOps["auth.login"], async (data) => {
        if (data.password !== "secretpass") throw new ColmenaError("unauthorized", "wrong username or password");
        const access_token = await rig.token("u-login", data.username);
        return { user_id: "u-login", username: data.username, access_token, refresh_token: "r", expires_in: 300 };
      })
      .handle(authOps["auth.logout"], (_data, ctx) => {
        families.push(ctx.headers?.get(Headers.tokenFamily));
        return {};
      });
    await rig.nc.flush();
    const bad = await c.request("auth.login", { username: "ana", password: "wrongpass" });
    assert.equal(bad.error.code, "unauthorized");
    assert.equal((await c.request("auth.whoami")).error.code, "unauthorized");
    const ok = await c.request("auth.login", { username: "ana", password: "secretpass" });
    assert.equal(ok.data.user_id, "u-login");
    assert.deepEqual((await c.request("auth.whoami")).data, { user_id: "u-login", username: "ana" });
    // Logged in means subscribed to the user channel.
    publishEvent(rig.nc, userChannel("u-login"), "diag.after-login", { n: 1 });
    assert.deepEqual((await c.event("diag.after-login")).data, { n: 1 });

    assert.equal((await c.request("auth.logout")).ok, true);
    assert.deepEqual(families, ["fam-u-login"]);
    assert.equal((await c.request("auth.whoami")).error.code, "unauthorized");
    publishEvent(rig.nc, userChannel("u-login"), "diag.after-logout", { n: 2 });
    assert.ok(await c.none((f) => f.event === "diag.after-logout"), "no pushes after logout");
  } finally {
    await auth.stop();
  }
});
