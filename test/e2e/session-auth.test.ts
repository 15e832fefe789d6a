/**
 * Every session and auth op of protocol.md section 4 (and sys.services of
 * section 10) through the real gateway and the real auth service, over TCP
 * and over WebSocket, with every error case the spec names.
 */
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import { ColmenaClient, ColmenaError, rawTcp, rawWs } from "@colmena/client";
import { generateSigningKey, signAccessToken, type SigningKey } from "@colmena/runtime";
import { BUCKETS } from "@colmena/protocol";
import { uniqueName } from "@colmena/testing";
import { isCode, startSystem, type System } from "./harness.ts";

const MAX_FRAME = 64 * 1024;
const ADMIN = uniqueName("admin");
let sys: System;

before(async () => {
  sys = await startSystem({ services: ["auth", "diag"], env: { COLMENA_MAX_FRAME_BYTES: String(MAX_FRAME), COLMENA_ADMINS: ADMIN } });
});
after(async () => {
  await sys?.stop();
});


/** Resolves when `closed` does, or fails after `ms`. */
async function closedWithin(closed: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`not closed in ${ms} ms`)), ms)));
  try {
    await Promise.race([closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The signing key auth keeps in KV, to mint tokens the gateway would accept but for their expiry. */
async function kvSigningKey(): Promise<SigningKey> {
  const kv = await new Kvm(sys.nc).open(BUCKETS.authPrivate.name);
  const e = await kv.get("signing.private");
  assert.ok(e, "auth published its signing key");
  const rec = e.json<{ kid: string; private_pem: string }>();
  const privateKey = createPrivateKey(rec.private_pem);
  return { kid: rec.kid, privateKey, publicKey: createPublicKey(privateKey) };
}

for (const transport of ["tcp", "ws"] as const) {
  describe(`session and auth over ${transport}`, () => {
    const connect = (extra: { codec?: "json" | "msgpack" } = {}) => sys.client({ transport, reconnect: false, ...extra });

    test(`hello and ping (${transport}) - describe the server and answer with its time`, async () => {
      const c = await connect();
      const hello = await c.request<Record<string, unknown>>("hello", { client: "e2e", protocol: 1 });
      assert.equal(hello.server, "colmena");
      assert.equal(hello.protocol, 1);
      assert.equal(hello.max_frame_bytes, MAX_FRAME);
      assert.equal(typeof hello.version, "string");
      assert.equal(hello.user, undefined);
      const before = Date.now();
      const { ts } = await c.ping();
      assert.ok(Number.isInteger(ts) && Math.abs(ts - before) < 60_000);
      await assert.rejects(c.request("hello", { nope: 1 }), isCode("bad_request"));
    });

    test(`auth.register (${transport}) - creates a user; names are unique case-insensitively and validated`, async () => {
      const c = await connect();
      const name = uniqueName("Reg");
      const r = await c.register(name, "correct horse");
      assert.equal(r.username, name);
      assert.equal(typeof r.user_id, "string");
      // The same register again (a retry after a lost reply) answers the same user.
      assert.deepEqual(await c.register(name, "correct horse"), r);
      await assert.rejects(c.register(name.toLowerCase(), "another pass"), isCode("conflict"));
      await assert.rejects(c.register(name.toUpperCase(), "another pass"), isCode("conflict"));
      for (const bad of ["ab", "x".repeat(33), "has space", "ñandú", "a/b"]) {
        await assert.rejects(c.register(bad, "correct horse"), isCode("bad_request"), `username ${bad}`);
      }
      await assert.rejects(c.register(uniqueName("p"), "short"), (e: unknown) => {
        isCode("bad_request")(e);
        const details = (e as ColmenaError).details as { path: unknown }[];
        assert.ok(Array.isArray(details) && details.length > 0, "details list the failing fields");
        return true;
      });
      await assert.rejects(c.register(uniqueName("p"), "x".repeat(257)), isCode("bad_request"));
      await assert.rejects(c.request("auth.register", { username: uniqueName("p"), password: "long enough", admin: true }), isCode("bad_request"));
    });

    test(`auth.login (${transport}) - issues tokens; wrong password and unknown user read the same`, async () => {
      const c = await connect();
      const name = uniqueName("log");
      const { user_id } = await c.register(name, "s3cret-pass");
      const r = await c.login(name, "s3cret-pass");
      assert.equal(r.user_id, user_id);
      assert.equal(r.username, name);
      assert.equal(r.access_token.split(".").length, 3);
      assert.ok(r.refresh_token.length > 16);
      assert.ok(Number.isInteger(r.expires_in) && r.expires_in > 0);
      assert.deepEqual(await c.whoami(), { user_id, username: name });
      const hello = await c.request<{ user?: unknown }>("hello");
      assert.deepEqual(hello.user, { user_id, username: name });

      const other = await connect();
      let wrongPassword = "", unknownUser = "";
      await assert.rejects(other.login(name, "not-the-pass"), (e: unknown) => { isCode("unauthorized")(e); wrongPassword = (e as Error).message; return true; });
      await assert.rejects(other.login(uniqueName("nobody"), "not-the-pass"), (e: unknown) => { isCode("unauthorized")(e); unknownUser = (e as Error).message; return true; });
      assert.equal(wrongPassword, unknownUser);
      await assert.rejects(other.whoami(), isCode("unauthorized"));
    });

    test(`unauthenticated (${transport}) - every op but the public ones answers unauthorized`, async () => {
      const c = await connect();
      await assert.rejects(c.whoami(), isCode("unauthorized"));
      await assert.rejects(c.logout(), isCode("unauthorized"));
      await assert.rejects(c.request("diag.echo", { payload: 1 }), isCode("unauthorized"));
      await assert.rejects(c.request("sys.services"), isCode("unauthorized"));
      // The public ones still work on the same connection.
      await c.ping();
      await c.request("hello");
    });

    test(`auth.token (${transport}) - authenticates a connection; bad, tampered, foreign and expired tokens do not`, async () => {
      const { accessToken, username, userId } = await sys.user({ transport });
      const c = await connect();
      assert.deepEqual(await c.authenticate(accessToken), { user_id: userId, username });
      assert.equal((await c.whoami()).username, username);

      const [h, p, s] = accessToken.split(".");
      const flipped = s.slice(0, 10) + (s[10] === "A" ? "B" : "A") + s.slice(11);
      const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), name: "root" })).toString("base64url");
      const foreign = await signAccessToken(generateSigningKey(), { userId, username, family: "f" }, 600);
      const expired = await signAccessToken(await kvSigningKey(), { userId, username, family: "f" }, -60);
      const fresh = await signAccessToken(await kvSigningKey(), { userId, username, family: "f" }, 600);
      const cases: [string, string][] = [
        ["garbage", "not-a-token"],
        ["tampered signature", `${h}.${p}.${flipped}`],
        ["tampered claims", `${h}.${forgedPayload}.${s}`],
        ["unknown key", foreign],
        ["expired", expired],
        ["empty", ""],
      ];
      for (const [what, token] of cases) {
        const d = await connect();
        await assert.rejects(d.authenticate(token), isCode("unauthorized"), what);
        await assert.rejects(d.whoami(), isCode("unauthorized"), `${what}: connection stays unauthenticated`);
      }
      // The control: a token minted the same way but not expired is accepted.
      const ok = await connect();
      assert.equal((await ok.authenticate(fresh)).username, username);
    });

    test(`auth.refresh (${transport}) - rotates; reusing a used refresh token revokes the family`, async () => {
      const { client, refreshToken, username } = await sys.user({ transport });
      const first = await client.request<{ access_token: string; refresh_token: string; expires_in: number }>("auth.refresh", { refresh_token: refreshToken });
      assert.notEqual(first.refresh_token, refreshToken);
      assert.ok(first.expires_in > 0);
      const c = await connect();
      assert.equal((await c.authenticate(first.access_token)).username, username);
      const second = await c.request<{ refresh_token: string }>("auth.refresh", { refresh_token: first.refresh_token });
      // Reuse of the first, already used token: refused, and the whole family with it.
      await assert.rejects(c.request("auth.refresh", { refresh_token: refreshToken }), isCode("unauthorized"));
      await assert.rejects(c.request("auth.refresh", { refresh_token: second.refresh_token }), isCode("unauthorized"));
      await assert.rejects(c.request("auth.refresh", { refresh_token: "made-up" }), isCode("unauthorized"));
      await assert.rejects(c.request("auth.refresh", {}), isCode("bad_request"));
    });

    test(`auth.logout (${transport}) - revokes the family and unauthenticates the connection`, async () => {
      const { client, refreshToken } = await sys.user({ transport });
      assert.deepEqual(await client.logout(), {});
      await assert.rejects(client.whoami(), isCode("unauthorized"));
      await assert.rejects(client.request("auth.refresh", { refresh_token: refreshToken }), isCode("unauthorized"));
      await client.ping(); // still connected
      assert.equal(client.session, null);
    });

    test(`sys.services (${transport}) - forbidden to users, listed for admins`, async () => {
      const { client } = await sys.user({ transport });
      await assert.rejects(client.request("sys.services"), isCode("forbidden"));
      const admin = await connect();
      // COLMENA_ADMINS names ADMIN exactly; register it once for both transports.
      await admin.register(ADMIN, "admin-pass").catch((e: unknown) => { if (!ColmenaError.is(e, "conflict")) throw e; });
      await admin.login(ADMIN, "admin-pass");
      const { services } = await admin.request<{ services: { name: string; endpoints: { name: string; num_requests: number }[] }[] }>("sys.services");
      const names = services.map((s) => s.name);
      assert.ok(names.includes("auth"), `services: ${names.join(", ")}`);
      const auth = services.find((s) => s.name === "auth")!;
      assert.ok(auth.endpoints.length >= 4);
      assert.ok(auth.endpoints.reduce((n, e) => n + e.num_requests, 0) > 0);
    });

  });
}

test("MessagePack over ws - register, login, whoami and errors work in binary frames", async () => {
  const c = await sys.client({ transport: "ws", codec: "msgpack", reconnect: false });
  const name = uniqueName("mp");
  await c.register(name, "msgpack-pass");
  await c.login(name, "msgpack-pass");
  assert.equal((await c.whoami()).username, name);
  await assert.rejects(c.login(name, "wrong-pass!"), isCode("unauthorized"));
  await assert.rejects(c.request("no.such.op"), isCode("unknown_op"));
});

describe("bad frames", () => {
  const expectError = (frame: { id?: unknown; ok?: unknown; error?: { code?: string } }, code: string, id: unknown) => {
    assert.equal(frame.ok, false);
    assert.equal(frame.error?.code, code, JSON.stringify(frame));
    assert.deepEqual(frame.id, id);
  };
  const malformed: [string, string, unknown][] = [
    ["not JSON", "{nope", null],
    ["a JSON array", "[1,2]", null],
    ["a JSON string", '"hello"', null],
    ["null", "null", null],
    ["no id", '{"op":"ping"}', null],
    ["an object id", '{"id":{"a":1},"op":"ping"}', null],
    ["a fractional id", '{"id":1.5,"op":"ping"}', null],
    ["a 65-character id", JSON.stringify({ id: "x".repeat(65), op: "ping" }), null],
    ["no op", '{"id":7}', 7],
    ["a numeric op", '{"id":"a","op":5}', "a"],
    ["data that is an array", '{"id":8,"op":"ping","data":[1]}', 8],
    ["data that is a string", '{"id":9,"op":"ping","data":"x"}', 9],
  ];

  test("bad frames (tcp) - each gets bad_frame, the id echoed when readable, and the connection lives on", async () => {
    await using raw = await rawTcp(sys.gateway.tcpUrl);
    for (const [what, text, id] of malformed) {
      raw.write(text + "\n");
      const reply = await raw.json();
      assert.doesNotThrow(() => expectError(reply, "bad_frame", id), what);
    }
    raw.write('{"id":"u1","op":"no.such.op"}\n');
    expectError(await raw.json(), "unknown_op", "u1");
    // Blank lines are ignored and \r\n is accepted.
    raw.write('\n\r\n   \n{"id":"p1","op":"ping"}\r\n');
    const pong = await raw.json();
    assert.equal(pong.id, "p1");
    assert.equal(pong.ok, true);
    assert.equal(raw.isClosed(), false);
  });

  test("bad frames (ws) - each gets bad_frame, the id echoed when readable, and the connection lives on", async () => {
    await using raw = await rawWs(sys.gateway.wsUrl);
    for (const [what, text, id] of malformed) {
      raw.send(text);
      const reply = await raw.json();
      assert.doesNotThrow(() => expectError(reply, "bad_frame", id), what);
    }
    raw.send(new Uint8Array([0xc1, 0xff, 0x00])); // not MessagePack
    const m = await raw.message();
    const reply = typeof m === "string" ? JSON.parse(m) : (await import("@msgpack/msgpack")).decode(m);
    expectError(reply as never, "bad_frame", null);
    raw.send('{"id":"u1","op":"no.such.op"}');
    expectError(await raw.json(), "unknown_op", "u1");
    raw.send('{"id":"p1","op":"ping"}');
    assert.equal((await raw.json()).ok, true);
    assert.equal(raw.isClosed(), false);
  });

  test("oversized frame (tcp) - answered frame_too_large, then the connection is closed", async () => {
    await using raw = await rawTcp(sys.gateway.tcpUrl);
    raw.write(JSON.stringify({ id: 1, op: "ping", data: { pad: "x".repeat(MAX_FRAME + 10) } }) + "\n");
    const reply = await raw.json();
    assert.equal(reply.error?.code, "frame_too_large");
    await closedWithin(raw.closed, 5_000);
    // The gateway itself is fine.
    const c = await sys.client();
    await c.ping();
  });

  test("oversized frame (tcp) - a line that never ends is cut off at the limit too", async () => {
    await using raw = await rawTcp(sys.gateway.tcpUrl);
    raw.write("x".repeat(MAX_FRAME + 1024));
    const reply = await raw.json();
    assert.equal(reply.error?.code, "frame_too_large");
    assert.equal(reply.id, null);
    await closedWithin(raw.closed, 5_000);
  });

  test("oversized frame (ws) - answered frame_too_large, then closed with 1009 (the message cannot be skipped)", async () => {
    await using raw = await rawWs(sys.gateway.wsUrl);
    const code = new Promise<number>((r) => raw.ws.once("close", (c: number) => r(c)));
    raw.send(JSON.stringify({ id: 1, op: "ping", data: { pad: "x".repeat(MAX_FRAME + 10) } }));
    const reply = await raw.json();
    assert.equal(reply.error?.code, "frame_too_large");
    assert.equal(reply.id, null);
    assert.equal(await code, 1009);
    const c = await sys.client({ transport: "ws" });
    await c.ping();
  });
});

describe("WebSocket authentication at connect", () => {
  test("ws ?token= - the connection starts logged in", async () => {
    const { accessToken, username } = await sys.user();
    const c = await ColmenaClient.connect({ url: `${sys.gateway.wsUrl}?token=${encodeURIComponent(accessToken)}`, reconnect: false });
    try {
      assert.equal((await c.whoami()).username, username);
    } finally {
      c.close();
    }
  });

  test("ws Authorization header - the connection starts logged in", async () => {
    const { accessToken, username } = await sys.user();
    await using raw = await rawWs(sys.gateway.wsUrl, { Authorization: `Bearer ${accessToken}` });
    raw.send('{"id":1,"op":"auth.whoami"}');
    const reply = await raw.json();
    assert.equal(reply.ok, true, JSON.stringify(reply));
    assert.equal(reply.data.username, username);
  });

  test("ws ?token= - a bad token does not log the connection in", async () => {
    let c: ColmenaClient | null = null;
    try {
      c = await ColmenaClient.connect({ url: `${sys.gateway.wsUrl}?token=not-a-token`, reconnect: false });
    } catch (err) {
      assert.ok(ColmenaError.is(err, "unavailable"), "refused at the handshake");
      return;
    }
    try {
      await assert.rejects(c.whoami(), isCode("unauthorized"));
    } finally {
      c.close();
    }
  });
});
