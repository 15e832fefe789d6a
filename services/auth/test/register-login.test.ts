import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNats, uniqueName } from "@colmena/testing";
import { AUTH_STREAM, BAD_CREDENTIALS, userSubject, type UserRecord } from "@colmena/auth";
import { call, callError, startTestAuth } from "./helpers.ts";

interface Registered { user_id: string; username: string }
interface LoggedIn extends Registered { access_token: string; refresh_token: string; expires_in: number }

test("auth - register then login returns the user and tokens", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url, { accessTtlS: 120 });
  const name = uniqueName("Ana");
  const reg = await call<Registered>(a.nc, "auth.register", { username: name, password: "correct horse" });
  assert.equal(reg.username, name);
  assert.match(reg.user_id, /^[0-9a-f-]{36}$/);

  const login = await call<LoggedIn>(a.nc, "auth.login", { username: name, password: "correct horse" });
  assert.equal(login.user_id, reg.user_id);
  assert.equal(login.username, name);
  assert.equal(login.expires_in, 120);
  assert.equal(login.access_token.split(".").length, 3);
  assert.match(login.refresh_token, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);

  // Login is case-insensitive on the username and answers with the name as registered.
  const again = await call<LoggedIn>(a.nc, "auth.login", { username: name.toUpperCase(), password: "correct horse" });
  assert.equal(again.username, name);
});

test("auth - the stream holds one user event with a scrypt hash, never the password", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url);
  const reg = await call<Registered>(a.nc, "auth.register", { username: "Bruno", password: "secret-password" });
  const jsm = await jetstreamManager(a.nc);
  const m = await jsm.streams.getMessage(AUTH_STREAM, { last_by_subj: userSubject("bruno") });
  assert.ok(m);
  assert.equal(m.subject, "auth.ev.user.bruno");
  const rec = m.json<UserRecord>();
  assert.equal(rec.user_id, reg.user_id);
  assert.equal(rec.username, "Bruno");
  assert.equal(rec.password.alg, "scrypt");
  assert.equal(Buffer.from(rec.password.salt, "base64url").length, 16);
  assert.ok(!m.string().includes("secret-password"));
});

test("auth - a username is registered once, case-insensitively", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url);
  await call(a.nc, "auth.register", { username: "carla.m", password: "password-1" });
  const same = await callError(a.nc, "auth.register", { username: "carla.m", password: "password-2" });
  assert.equal(same.code, "conflict");
  const cased = await callError(a.nc, "auth.register", { username: "CARLA.M", password: "password-2" });
  assert.equal(cased.code, "conflict");
  // The first password still works; the losing registrations changed nothing.
  await call(a.nc, "auth.login", { username: "Carla.M", password: "password-1" });
  assert.equal((await callError(a.nc, "auth.login", { username: "carla.m", password: "password-2" })).code, "unauthorized");
});

test("auth - invalid usernames and passwords are bad_request with details", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url);
  const cases: [unknown, string][] = [
    [{ username: "ab", password: "long enough" }, "username"],
    [{ username: "x".repeat(33), password: "long enough" }, "username"],
    [{ username: "has space", password: "long enough" }, "username"],
    [{ username: "dot*star>", password: "long enough" }, "username"],
    [{ username: "dana", password: "short" }, "password"],
    [{ username: "dana", password: "p".repeat(257) }, "password"],
    [{ username: "dana" }, "password"],
    [{ username: "dana", password: "long enough", admin: true }, ""],
  ];
  for (const [data, field] of cases) {
    const err = await callError(a.nc, "auth.register", data);
    assert.equal(err.code, "bad_request", JSON.stringify(data));
    const details = err.details as { path: string; message: string }[];
    assert.ok(Array.isArray(details) && details.length > 0, JSON.stringify(data));
    if (field) assert.ok(details.some((d) => d.path === field), `${JSON.stringify(data)} -> ${JSON.stringify(details)}`);
  }
  // None of them created a user.
  assert.equal((await callError(a.nc, "auth.login", { username: "dana", password: "long enough" })).code, "unauthorized");
});

test("auth - a wrong password and an unknown user get the same answer", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url);
  await call(a.nc, "auth.register", { username: "elena", password: "right-password" });
  const wrong = await callError(a.nc, "auth.login", { username: "elena", password: "wrong-password" });
  const unknown = await callError(a.nc, "auth.login", { username: "nobody", password: "wrong-password" });
  const malformed = await callError(a.nc, "auth.login", { username: "no body!", password: "x" });
  for (const e of [wrong, unknown, malformed]) {
    assert.equal(e.code, "unauthorized");
    assert.equal(e.message, BAD_CREDENTIALS);
  }
});
