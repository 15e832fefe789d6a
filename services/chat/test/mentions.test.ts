import { test } from "node:test";
import assert from "node:assert/strict";
import { mentionsIn } from "../src/send.ts";

/** A room's members as the read model answers `memberNamed`. */
function room(...members: string[]) {
  const byKey = new Map(members.map((m) => [m.toLowerCase(), m]));
  return { memberNamed: (name: string) => byKey.get(name.toLowerCase()) };
}

test("mentions - members named in any case, as the member list spells them, once each; strangers and short names ignored", () => {
  const r = room("Bob_x", "ana", "dee.v", "zed.");
  assert.deepEqual(mentionsIn("hey @bob_X, @ANA and @bob_x again; @nobody and @me", r.memberNamed), ["Bob_x", "ana"]);
  // A sentence's full stop after a name is not part of it; the name as written counts when no shorter one is a member.
  assert.deepEqual(mentionsIn("thanks @ana.", r.memberNamed), ["ana"]);
  assert.deepEqual(mentionsIn("cc @dee.v.", r.memberNamed), ["dee.v"]);
  assert.deepEqual(mentionsIn("hi @zed.", r.memberNamed), ["zed."]);
});

test("mentions - none without an @name, and none in ciphertext (no body)", () => {
  const r = room("ana");
  assert.deepEqual(mentionsIn("ana, no names here", r.memberNamed), []);
  assert.deepEqual(mentionsIn(undefined, r.memberNamed), []);
});
