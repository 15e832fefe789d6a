import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { silentLogger } from "@colmena/runtime";
import { startNats, startNatsProxy, uniqueName } from "@colmena/testing";
import { AUTH_STREAM, startAuth, userSubject } from "@colmena/auth";
import { TEST_SCRYPT_N, call, callError, startTestAuth } from "./helpers.ts";

interface Registered { user_id: string; username: string }

test("auth - a register whose write landed but whose ack was lost answers the registered user", async (t) => {
  await using ns = await startNats();
  // Auth reaches NATS through a proxy that cuts its connection right after the user's write.
  await using proxy = await startNatsProxy(ns.url);
  const authNc = await connect({ servers: proxy.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const auth = await startAuth({ nc: authNc, log: silentLogger(), env: {}, overrides: { scryptN: TEST_SCRYPT_N } });
  t.after(async () => { await auth.stop(); await authNc.close(); });
  const nc = await connect({ servers: ns.url });
  t.after(() => nc.close());

  const name = uniqueName("dora");
  const cut = proxy.loseAnswerTo(userSubject(name));
  const reg = await call<Registered>(nc, "auth.register", { username: name, password: "password-1" }, { timeoutMs: 15_000 });
  await cut;
  assert.equal(reg.username, name);
  const login = await call<Registered>(nc, "auth.login", { username: name, password: "password-1" });
  assert.equal(login.user_id, reg.user_id);
  const info = await (await jetstreamManager(nc)).streams.info(AUTH_STREAM, { subjects_filter: userSubject(name) });
  assert.equal(info.state.subjects?.[userSubject(name)], 1, "the user was written once");
});

test("auth - a register retried after its reply was lost answers the same user; another password is conflict", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url);
  await using b = await startTestAuth(ns.url);
  const name = uniqueName("Eli");
  const first = await call<Registered>(a.nc, "auth.register", { username: name, password: "password-1" });
  // The client never saw that reply and asks again, reaching another instance, in another letter case.
  const retried = await call<Registered>(b.nc, "auth.register", { username: name.toLowerCase(), password: "password-1" });
  assert.deepEqual(retried, first);
  assert.equal((await callError(b.nc, "auth.register", { username: name, password: "password-2" })).code, "conflict");
  assert.equal((await call<Registered>(a.nc, "auth.login", { username: name, password: "password-1" })).user_id, first.user_id);
});
