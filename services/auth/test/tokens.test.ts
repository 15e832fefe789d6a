import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNats } from "@colmena/testing";
import { PublicKeys, silentLogger, verifyAccessToken } from "@colmena/runtime";
import { AUTH_STREAM, familySubject, type FamilyEvent } from "@colmena/auth";
import { call, callError, startTestAuth, userHeaders } from "./helpers.ts";

interface Tokens { access_token: string; refresh_token: string; expires_in: number }
interface LoggedIn extends Tokens { user_id: string; username: string }

async function registerAndLogin(nc: Parameters<typeof call>[0], username: string): Promise<LoggedIn> {
  await call(nc, "auth.register", { username, password: "a good password" });
  return call<LoggedIn>(nc, "auth.login", { username, password: "a good password" });
}
const familyOfToken = (refresh: string) => refresh.split(".")[0];

test("auth tokens - the access token verifies with the published public key", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url, { accessTtlS: 300 });
  const login = await registerAndLogin(a.nc, "fabio");

  // What a gateway does: watch the public keys auth published, verify locally.
  const gw = await connect({ servers: ns.url });
  const keys = await PublicKeys.watch(gw, silentLogger());
  try {
    assert.equal(await keys.ready(5_000), true);
    const claims = await verifyAccessToken(login.access_token, keys.keys);
    assert.equal(claims.userId, login.user_id);
    assert.equal(claims.username, "fabio");
    assert.equal(claims.family, familyOfToken(login.refresh_token));
    const ttl = claims.expiresAt - Date.now();
    // 300 s from issue, rounded up to a whole second (never shorter than `expires_in`).
    assert.ok(ttl > 250_000 && ttl <= 301_000, `ttl ${ttl}`);

    // Change one character of the payload: the signature no longer matches.
    const [h, p, s] = login.access_token.split(".");
    const payload = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    payload.name = "admin";
    const forged = [h, Buffer.from(JSON.stringify(payload)).toString("base64url"), s].join(".");
    await assert.rejects(verifyAccessToken(forged, keys.keys), (e: { code?: string }) => e.code === "unauthorized");
    const flipped = login.access_token.slice(0, -2) + (login.access_token.at(-2) === "A" ? "B" : "A") + login.access_token.at(-1);
    await assert.rejects(verifyAccessToken(flipped, keys.keys), (e: { code?: string }) => e.code === "unauthorized");
  } finally {
    keys.close();
    await gw.close();
  }
});

test("auth tokens - refresh rotates; the used token fails and its reuse revokes the family", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url);
  const login = await registerAndLogin(a.nc, "gala");

  const first = await call<Tokens>(a.nc, "auth.refresh", { refresh_token: login.refresh_token });
  assert.notEqual(first.refresh_token, login.refresh_token);
  assert.equal(familyOfToken(first.refresh_token), familyOfToken(login.refresh_token));
  const second = await call<Tokens>(a.nc, "auth.refresh", { refresh_token: first.refresh_token });

  // The first token again: a reuse. It fails, and so does the current one from then on.
  const reuse = await callError(a.nc, "auth.refresh", { refresh_token: login.refresh_token });
  assert.equal(reuse.code, "unauthorized");
  const current = await callError(a.nc, "auth.refresh", { refresh_token: second.refresh_token });
  assert.equal(current.code, "unauthorized");

  const jsm = await jetstreamManager(a.nc);
  const last = await jsm.streams.getMessage(AUTH_STREAM, { last_by_subj: familySubject(familyOfToken(login.refresh_token)) });
  assert.deepEqual({ ...last!.json<FamilyEvent>(), at: 0 }, { type: "family.revoked", user_id: login.user_id, username: "gala", reason: "reuse", at: 0 });

  // Another login starts a fresh family that works.
  const again = await call<LoggedIn>(a.nc, "auth.login", { username: "gala", password: "a good password" });
  await call<Tokens>(a.nc, "auth.refresh", { refresh_token: again.refresh_token });
});

test("auth tokens - a made-up secret for a real family is refused without ending the family", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url);
  const login = await registerAndLogin(a.nc, "jara");
  // The family id is no secret (it rides in the access token as `fam`); the secret is.
  const forged = `${familyOfToken(login.refresh_token)}.${"C".repeat(43)}`;
  const err = await callError(a.nc, "auth.refresh", { refresh_token: forged });
  assert.equal(err.code, "unauthorized");
  // The owner's session goes on.
  const next = await call<Tokens>(a.nc, "auth.refresh", { refresh_token: login.refresh_token });
  assert.equal(familyOfToken(next.refresh_token), familyOfToken(login.refresh_token));
});

test("auth tokens - two concurrent refreshes of one token: one wins, the family is revoked", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url);
  await using b = await startTestAuth(ns.url);
  const login = await registerAndLogin(a.nc, "hugo");
  const results = await Promise.allSettled([
    call<Tokens>(a.nc, "auth.refresh", { refresh_token: login.refresh_token }),
    call<Tokens>(b.nc, "auth.refresh", { refresh_token: login.refresh_token }),
  ]);
  const won = results.filter((r) => r.status === "fulfilled");
  assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
  const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
  assert.equal(lost.reason.code, "unauthorized");
  // The loser counted as a reuse, so even the winner's new token is dead.
  const winner = (won[0] as PromiseFulfilledResult<Tokens>).value;
  assert.equal((await callError(a.nc, "auth.refresh", { refresh_token: winner.refresh_token })).code, "unauthorized");
});

test("auth tokens - malformed, unknown and expired refresh tokens are unauthorized", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url, { refreshTtlS: 1 });
  const login = await registerAndLogin(a.nc, "ines");
  for (const refresh_token of ["", "nodot", "a.b", "auth.ev.>", `${"A".repeat(22)}.${"B".repeat(43)}`]) {
    assert.equal((await callError(a.nc, "auth.refresh", { refresh_token })).code, "unauthorized", refresh_token);
  }
  await new Promise((r) => setTimeout(r, 1_100));
  const expired = await callError(a.nc, "auth.refresh", { refresh_token: login.refresh_token });
  assert.equal(expired.code, "unauthorized");
  assert.match(expired.message, /expired/);
});

test("auth tokens - logout revokes the connection's family, and only the caller's", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url);
  const jose = await registerAndLogin(a.nc, "jose");
  const kim = await registerAndLogin(a.nc, "kim");
  const kimFamily = familyOfToken(kim.refresh_token);

  // Logout needs a logged-in caller.
  assert.equal((await callError(a.nc, "auth.logout", {}, { headers: { "Colmena-Token-Family": kimFamily } })).code, "unauthorized");
  // jose names kim's family: nothing happens to it.
  assert.deepEqual(await call(a.nc, "auth.logout", {}, { headers: userHeaders(jose, kimFamily) }), {});
  const kimNext = await call<Tokens>(a.nc, "auth.refresh", { refresh_token: kim.refresh_token });
  // A bad family header is ignored, not put into a subject.
  assert.deepEqual(await call(a.nc, "auth.logout", {}, { headers: userHeaders(kim, "auth.ev.>") }), {});

  assert.deepEqual(await call(a.nc, "auth.logout", {}, { headers: userHeaders(kim, kimFamily) }), {});
  assert.equal((await callError(a.nc, "auth.refresh", { refresh_token: kimNext.refresh_token })).code, "unauthorized");
  // Logging out twice is fine.
  assert.deepEqual(await call(a.nc, "auth.logout", {}, { headers: userHeaders(kim, kimFamily) }), {});
  // jose's own session is untouched.
  await call<Tokens>(a.nc, "auth.refresh", { refresh_token: jose.refresh_token });
});
