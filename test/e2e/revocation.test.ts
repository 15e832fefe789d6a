/**
 * Revocation reaches every gateway (issue 14, item 9): a logout or a refresh
 * token reuse on one gateway refuses the family's access token within a
 * second on another gateway, on new connections and on the connections it
 * had already authenticated there, and on a gateway started afterwards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ColmenaClient, ColmenaError } from "@colmena/client";
import { silentLogger } from "@colmena/runtime";
import { startGateway, type Gateway } from "@colmena/gateway";
import { startSystem, type System } from "./harness.ts";

/** A second gateway on the same NATS, with its own connection, as another process would be. */
async function secondGateway(sys: System): Promise<Gateway & AsyncDisposable> {
  const nc: NatsConnection = await connect({ servers: sys.nats.url });
  const gw = await startGateway({ nc, log: silentLogger(), env: {}, overrides: { host: "127.0.0.1", tcpPort: 0, httpPort: 0 } });
  return Object.assign(gw, {
    async [Symbol.asyncDispose]() {
      await gw.stop();
      await nc.close();
    },
  });
}

const on = (gw: Gateway) => ColmenaClient.connect({ url: `tcp://127.0.0.1:${gw.ports.tcp}`, reconnect: false, requestTimeoutMs: 5_000 });

/** The code a request fails with, or "ok". */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    if (ColmenaError.is(err)) return err.code;
    throw err;
  }
}

/** Polls `probe` until it answers `unauthorized`; resolves with the ms it took from `since`. */
async function refusedAfter(since: number, probe: () => Promise<string>, what: string): Promise<number> {
  for (;;) {
    const got = await probe();
    if (got === "unauthorized") return Date.now() - since;
    assert.equal(got, "ok", `${what}: unexpected ${got}`);
    if (Date.now() - since > 3_000) assert.fail(`${what}: still accepted 3 s after the revocation`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("auth revocation - a logout on gateway A refuses its token on gateway B within 1 s, on new and open connections", async (t) => {
  await using sys = await startSystem({ services: ["auth"] });
  await using b = await secondGateway(sys);
  const user = await sys.user();
  const other = await sys.user();

  const openOnB = await on(b);
  await openOnB.authenticate(user.accessToken);
  const otherOnB = await on(b);
  await otherOnB.authenticate(other.accessToken);
  assert.equal((await openOnB.whoami()).user_id, user.userId);

  await user.client.logout();
  const loggedOut = Date.now();
  const openMs = await refusedAfter(loggedOut, () => outcome(openOnB.whoami()), "open connection on B");
  const fresh = await on(b);
  const newMs = await refusedAfter(loggedOut, () => outcome(fresh.authenticate(user.accessToken)), "new connection on B");
  t.diagnostic(`refused on B: open connection after ${openMs} ms, new connection after ${newMs} ms`);
  assert.ok(openMs < 1_000 && newMs < 1_000, `open ${openMs} ms, new ${newMs} ms`);

  // Only that family: the other user's session on B goes on.
  assert.equal((await otherOnB.whoami()).user_id, other.userId);
  // A gateway started after the logout reads the list before it verifies anything.
  await using c = await secondGateway(sys);
  assert.equal(await outcome((await on(c)).authenticate(user.accessToken)), "unauthorized");
  for (const cl of [openOnB, otherOnB, fresh]) cl.close();
});

test("auth revocation - a reused refresh token revokes the family's access token on every gateway", async (t) => {
  await using sys = await startSystem({ services: ["auth"] });
  await using b = await secondGateway(sys);
  const user = await sys.user();
  const openOnB = await on(b);
  await openOnB.authenticate(user.accessToken);

  const anon = await sys.client();
  const rotated = await anon.request<{ access_token: string }>("auth.refresh", { refresh_token: user.refreshToken });
  // The old refresh token again: a thief holds a copy, so the whole family ends.
  assert.equal(await outcome(anon.request("auth.refresh", { refresh_token: user.refreshToken })), "unauthorized");
  const revoked = Date.now();
  const ms = await refusedAfter(revoked, () => outcome(openOnB.whoami()), "open connection on B");
  t.diagnostic(`refused on B after ${ms} ms`);
  assert.ok(ms < 1_000, `${ms} ms`);
  const fresh = await on(b);
  assert.equal(await outcome(fresh.authenticate(user.accessToken)), "unauthorized");
  assert.equal(await outcome(fresh.authenticate(rotated.access_token)), "unauthorized");
  for (const cl of [openOnB, fresh]) cl.close();
});
