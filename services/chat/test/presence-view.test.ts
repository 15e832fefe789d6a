import { test } from "node:test";
import assert from "node:assert/strict";
import { PresenceView, parsePresenceKey } from "../src/presence-view.ts";

test("presence view - keys are indexed by room and user, connection and gateway, and leave every index when deleted", () => {
  const v = new PresenceView();
  v.apply("lobby.ana.gw1.gw1-1", 1, true);
  v.apply("lobby.ana.gw2.gw2-7", 2, true); // a second tab, on another gateway
  v.apply("lobby.b=o.gw1.gw1-2", 3, true); // user "b.o"
  v.apply("dev.ana.gw1.gw1-1", 4, true);
  assert.deepEqual(v.usersIn("lobby").sort(), ["ana", "b.o"]);
  assert.deepEqual(v.keysOfConn("gw1-1").sort(), ["dev.ana.gw1.gw1-1", "lobby.ana.gw1.gw1-1"]);
  assert.deepEqual(v.gateways().sort(), ["gw1", "gw2"]);
  v.apply("lobby.ana.gw1.gw1-1", 5, false);
  assert.equal(v.hasUser("lobby", "ana"), true, "the other tab holds ana online");
  v.apply("lobby.ana.gw2.gw2-7", 6, false);
  assert.equal(v.hasUser("lobby", "ana"), false);
  assert.deepEqual(v.gateways(), ["gw1"]);
  assert.deepEqual(v.keysOfGateway("gw2"), []);
  v.apply("lobby.b=o.gw1.gw1-2", 7, false);
  assert.deepEqual(v.usersIn("lobby"), []);
});

test("presence view - a write older than what is known (a watched put arriving after this replica's own delete) is ignored", () => {
  const v = new PresenceView();
  v.apply("r.u.g.g-1", 10, true);
  v.apply("r.u.g.g-1", 10.5, false);
  v.apply("r.u.g.g-1", 10, true);
  assert.equal(v.hasUser("r", "u"), false);
  v.apply("r.u.g.g-1", 11, true); // a later join
  assert.equal(v.hasUser("r", "u"), true);
  v.forgetGone(Date.now() + 61_000, 60_000);
  v.apply("r.u.g.g-1", 12, true);
  assert.deepEqual(v.keysOfConn("g-1"), ["r.u.g.g-1"], "indexed once");
});

test("presence view - keys of another shape are not presence keys", () => {
  assert.equal(parsePresenceKey("r.u.g"), null);
  assert.equal(parsePresenceKey("r.u.g.c.x"), null);
  assert.deepEqual(parsePresenceKey("r.a=b.g.g-1"), { room: "r", user: "a.b", gateway: "g", conn: "g-1" });
});
