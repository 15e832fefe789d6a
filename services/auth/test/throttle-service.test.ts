/**
 * The password throttles and the hashing queue as a client meets them: auth
 * over NATS, with the `Colmena-Remote-Addr` header a gateway sets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Headers } from "@colmena/protocol";
import { startNats, uniqueName } from "@colmena/testing";
import { call, callError, startTestAuth } from "./helpers.ts";

const from = (address: string) => ({ headers: { [Headers.remoteAddr]: address } });

test("auth throttle - after its limit of wrong passwords a username answers rate_limited, even to the right one, until the window ends", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url, { usernameFailures: 3, lockoutMs: 500 });
  const name = uniqueName("ana");
  await call(a.nc, "auth.register", { username: name, password: "right-password" });
  // Each guess from its own address: the username's count is what locks.
  for (let i = 0; i < 3; i++)
    assert.equal((await callError(a.nc, "auth.login", { username: name, password: `wrong-${i}` }, from(`198.51.100.${i}`))).code, "unauthorized");
  const locked = await callError(a.nc, "auth.login", { username: name.toUpperCase(), password: "right-password" }, from("198.51.100.9"));
  assert.equal(locked.code, "rate_limited");
  assert.ok(locked.retryAfterMs! > 0 && locked.retryAfterMs! <= 500, String(locked.retryAfterMs));
  await sleep(locked.retryAfterMs! + 20);
  await call(a.nc, "auth.login", { username: name, password: "right-password" }, from("198.51.100.9"));
  // The right password started the username afresh.
  assert.equal((await callError(a.nc, "auth.login", { username: name, password: "wrong-again" })).code, "unauthorized");
});

test("auth throttle - an address that keeps failing is locked for every username, with a longer window each time; others are not", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url, { addressFailures: 4, lockoutMs: 300 });
  const bea = uniqueName("bea");
  await call(a.nc, "auth.register", { username: bea, password: "bea-password" });
  const attacker = from("203.0.113.5");
  const windows: number[] = [];
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 4; i++)
      assert.equal((await callError(a.nc, "auth.login", { username: uniqueName("guess"), password: "wrong-password" }, attacker)).code, "unauthorized");
    const locked = await callError(a.nc, "auth.login", { username: bea, password: "bea-password" }, attacker);
    assert.equal(locked.code, "rate_limited");
    windows.push(locked.retryAfterMs!);
    // Meanwhile the same user logs in from elsewhere.
    await call(a.nc, "auth.login", { username: bea, password: "bea-password" }, from("192.0.2.1"));
    await sleep(locked.retryAfterMs! + 20);
  }
  assert.ok(windows[0] <= 300 && windows[1] > 300 && windows[1] <= 600, JSON.stringify(windows));
  // The same /64 is the same address.
  const v6 = (host: string) => from(`2001:db8:7:7:${host}`);
  for (let i = 0; i < 4; i++) await callError(a.nc, "auth.login", { username: uniqueName("guess"), password: "wrong-password" }, v6(`${i}::1`));
  assert.equal((await callError(a.nc, "auth.login", { username: bea, password: "bea-password" }, v6("ffff::9"))).code, "rate_limited");
});

test("auth throttle - registering a taken name with wrong passwords is throttled like a login", async () => {
  await using ns = await startNats();
  await using a = await startTestAuth(ns.url, { usernameFailures: 2 });
  const name = uniqueName("carla");
  const reg = await call(a.nc, "auth.register", { username: name, password: "carla-password" });
  for (let i = 0; i < 2; i++) assert.equal((await callError(a.nc, "auth.register", { username: name, password: `wrong-guess-${i}` })).code, "conflict");
  const locked = await callError(a.nc, "auth.register", { username: name, password: "carla-password" });
  assert.equal(locked.code, "rate_limited");
  assert.ok(locked.retryAfterMs! > 0);
  assert.equal((await callError(a.nc, "auth.login", { username: name, password: "carla-password" })).code, "rate_limited");
  await sleep(locked.retryAfterMs! + 20);
  assert.deepEqual(await call(a.nc, "auth.register", { username: name, password: "carla-password" }), reg);
});

test("auth throttle - a full hashing queue answers rate_limited with retry_after_ms at once", async () => {
  await using ns = await startNats();
  // Real scrypt cost, so the hashes outlast the burst; one at a time, two waiting.
  await using a = await startTestAuth(ns.url, { scryptN: 16_384, hashConcurrency: 1, hashQueue: 2 });
  const names = Array.from({ length: 12 }, () => uniqueName("dana"));
  const started = performance.now();
  const results = await Promise.allSettled(names.map((username) => call(a.nc, "auth.register", { username, password: "dana-password" }, { timeoutMs: 20_000 })));
  const refused = results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason);
  for (const err of refused) {
    assert.equal(err.code, "rate_limited", String(err));
    assert.ok(err.retryAfterMs > 0);
  }
  const took = performance.now() - started;
  assert.ok(refused.length >= 12 - 3 - 2, `at most one running and two waiting besides a few that came late: ${refused.length} refused in ${took.toFixed(0)} ms`);
  assert.ok(results.some((r) => r.status === "fulfilled"));
});
