import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ALL_CONN_LIFECYCLE, ALL_GATEWAY_HEARTBEATS, OPS, assertToken, channel, connLifecycleSubject, gatewayHeartbeatSubject, decodeToken, encodeToken, eventSubject, isToken, opSubject, pushSubject, userChannel } from "@colmena/protocol";

test("subjects - builders follow the grammar of design.md section 2", () => {
  assert.equal(opSubject("auth.login"), "colmena.auth.login");
  assert.equal(pushSubject(userChannel("u-1")), "colmena.push.user.u-1");
  assert.equal(channel("room", "lobby"), "room.lobby");
  assert.equal(eventSubject("auth", "user", encodeToken("ana.b")), "auth.ev.user.ana%2Eb");
});

test("subjects - tokens from clients cannot inject wildcards or extra tokens", () => {
  for (const bad of ["", "a.b", "*", ">", "a b", "a\tb", "a\nb", "x*", "\u0000", "a".repeat(1025)]) {
    assert.equal(isToken(bad), false, JSON.stringify(bad));
    assert.throws(() => assertToken(bad), { code: "bad_request" });
    assert.throws(() => userChannel(bad), { code: "bad_request" });
  }
  assert.equal(isToken("ana_b-1"), true);
});

test("subjects - encodeToken always yields a safe token and round-trips", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (s) => {
      const t = encodeToken(s);
      return isToken(t) && decodeToken(t) === s;
    }),
    { numRuns: 2000 },
  );
  assert.notEqual(encodeToken("Ana"), encodeToken("ana"));
});

test("subjects - gateway lifecycle subjects end in the gateway id and collide with no op", () => {
  assert.equal(connLifecycleSubject("opened", "gw-1a"), "colmena.sys.conn.opened.gw-1a");
  assert.equal(connLifecycleSubject("closed", "gw-1a"), "colmena.sys.conn.closed.gw-1a");
  assert.equal(gatewayHeartbeatSubject("gw-1a"), "colmena.sys.gateway.heartbeat.gw-1a");
  assert.equal(ALL_CONN_LIFECYCLE, "colmena.sys.conn.>");
  assert.equal(ALL_GATEWAY_HEARTBEATS, "colmena.sys.gateway.heartbeat.*");
  assert.throws(() => connLifecycleSubject("opened", "gw.*"), { code: "bad_request" });
  for (const op of Object.keys(OPS)) assert.ok(!/^sys\.(conn|gateway)(\.|$)/.test(op), `${op} would share a lifecycle subject`);
});
