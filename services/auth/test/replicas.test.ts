import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Svcm } from "@nats-io/services";
import { ColmenaError } from "@colmena/protocol";
import { startNats } from "@colmena/testing";
import { call, callError } from "./helpers.ts";
import { callRetrying, spawnAuth } from "./processes.ts";

/** The ids of the auth instances answering `$SRV.PING.auth`. */
async function instances(nc: NatsConnection): Promise<string[]> {
  const ids: string[] = [];
  for await (const p of await new Svcm(nc).client({ strategy: "timer", maxWait: 500 }).ping("auth")) ids.push(p.id);
  return ids.sort();
}

/** Requests each instance served so far, from `$SRV.STATS.auth`. */
async function requestsPerInstance(nc: NatsConnection): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const s of await new Svcm(nc).client({ strategy: "timer", maxWait: 500 }).stats("auth")) {
    out.set(s.id, (s.endpoints ?? []).reduce((n, e) => n + e.num_requests, 0));
  }
  return out;
}

test("auth replicas - two processes share the work and the survivor carries on after a SIGKILL", async (t) => {
  await using ns = await startNats();
  const [a, b] = await Promise.all([spawnAuth(ns.url, "auth-a"), spawnAuth(ns.url, "auth-b")]);
  await using _a = a;
  await using _b = b;
  const nc = await connect({ servers: ns.url });
  try {
    assert.deepEqual(await instances(nc), [a.id, b.id].sort());

    // Enough users that both instances take requests (queue group).
    for (let i = 0; i < 12; i++) {
      await call(nc, "auth.register", { username: `before${i}`, password: "password-before" });
      await call(nc, "auth.login", { username: `BEFORE${i}`, password: "password-before" });
    }
    const served = await requestsPerInstance(nc);
    assert.ok((served.get(a.id) ?? 0) > 0 && (served.get(b.id) ?? 0) > 0, JSON.stringify([...served]));

    // A user registered on one instance is known to the other: the stream is the truth.
    assert.equal((await callError(nc, "auth.register", { username: "Before0", password: "another-pass" })).code, "conflict");

    assert.equal(await a.kill("SIGKILL"), "SIGKILL");
    let retries = 0;
    for (let i = 0; i < 12; i++) {
      const reg = await callRetrying<{ user_id: string }>(nc, "auth.register", { username: `after${i}`, password: "password-after" });
      const login = await callRetrying<{ user_id: string }>(nc, "auth.login", { username: `after${i}`, password: "password-after" });
      assert.equal(login.value.user_id, reg.value.user_id);
      const old = await callRetrying(nc, "auth.login", { username: `before${i}`, password: "password-before" });
      retries += reg.retries + login.retries + old.retries;
    }
    t.diagnostic(`requests retried after the SIGKILL: ${retries}`);
    assert.ok(retries <= 10, `retries ${retries}`);
    assert.deepEqual(await instances(nc), [b.id]);

    // SIGTERM drains: the process exits cleanly.
    assert.equal(await b.kill("SIGTERM"), 0);
  } finally {
    await nc.close();
  }
});

test("auth replicas - 20 concurrent registers of one name, in different case, across two processes: one wins", async () => {
  await using ns = await startNats();
  // 19 losing passwords for one name look like guessing; this test is about the write race, not the throttle.
  const env = { COLMENA_AUTH_USERNAME_FAILURES: "100" };
  const [a, b] = await Promise.all([spawnAuth(ns.url, "auth-a", env), spawnAuth(ns.url, "auth-b", env)]);
  await using _a = a;
  await using _b = b;
  const nc = await connect({ servers: ns.url });
  try {
    assert.deepEqual(await instances(nc), [a.id, b.id].sort());
    const variants = Array.from({ length: 20 }, (_, i) =>
      [..."racer"].map((c, j) => ((i >> j) & 1 ? c.toUpperCase() : c)).join(""),
    );
    const results = await Promise.allSettled(variants.map((username, i) => call<{ username: string }>(nc, "auth.register", { username, password: `password-${i}` })));
    const wins = results.filter((r) => r.status === "fulfilled") as PromiseFulfilledResult<{ username: string }>[];
    assert.equal(wins.length, 1);
    for (const r of results) if (r.status === "rejected") assert.equal(r.reason.code, "conflict", String(r.reason));
    const served = await requestsPerInstance(nc);
    assert.ok((served.get(a.id) ?? 0) > 0 && (served.get(b.id) ?? 0) > 0, JSON.stringify([...served]));

    // The winner's password is the one that logs in.
    const i = variants.indexOf(wins[0].value.username);
    await call(nc, "auth.login", { username: "RACER", password: `password-${i}` });
    assert.equal((await callError(nc, "auth.login", { username: "racer", password: `password-${(i + 1) % 20}` })).code, "unauthorized");
  } finally {
    await nc.close();
  }
});

test("auth replicas - a SIGKILL in the middle of a burst: every user can still log in through the survivor", async (t) => {
  await using ns = await startNats();
  const [a, b] = await Promise.all([spawnAuth(ns.url, "auth-a"), spawnAuth(ns.url, "auth-b")]);
  await using _a = a;
  await using _b = b;
  const nc = await connect({ servers: ns.url });
  try {
    assert.deepEqual(await instances(nc), [a.id, b.id].sort());
    let retries = 0;
    let done = 0;
    // A register answered by nobody may still have been written: its retry
    // (the same name and password) then answers that same user, never `conflict`.
    const chain = async (i: number) => {
      const username = `burst${i}`;
      const password = `password-${i}`;
      const reg = await callRetrying<{ user_id: string }>(nc, "auth.register", { username, password }, () => retries++);
      const login = await callRetrying<{ user_id: string }>(nc, "auth.login", { username, password }, () => retries++);
      assert.equal(login.value.user_id, reg.value.user_id);
      done++;
    };
    const burst = Promise.all(Array.from({ length: 40 }, (_, i) => chain(i)));
    // Kill one instance while requests are in flight on both.
    for (let i = 0; i < 200 && done < 5; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await a.kill("SIGKILL"), "SIGKILL");
    await burst;
    t.diagnostic(`done before the kill: >=5 of 40; retried requests: ${retries}`);
    assert.equal(done, 40);
    assert.deepEqual(await instances(nc), [b.id]);
  } finally {
    await nc.close();
  }
});
