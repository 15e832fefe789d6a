import { test } from "node:test";
import assert from "node:assert/strict";
import { MULTICAST_MAX_CHANNELS, MULTICAST_NAME, channel, decodeMulticast, encodeMulticast, isChannel } from "@colmena/protocol";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test("multicast - channels and data survive the encoding, split by count and by bytes", () => {
  const data = enc(JSON.stringify({ title: "ñ", body: "a\nb" }));
  const one = encodeMulticast(["user.a", "room.x.y", "user.ü"], data);
  assert.equal(one.length, 1);
  const back = decodeMulticast(one[0])!;
  assert.deepEqual(back.channels, ["user.a", "room.x.y", "user.ü"]);
  assert.equal(dec(back.data), dec(data));

  const many = Array.from({ length: MULTICAST_MAX_CHANNELS * 2 + 5 }, (_, i) => `user.${i}`);
  const parts = encodeMulticast(many, data);
  assert.deepEqual(parts.map((p) => decodeMulticast(p)!.channels.length), [MULTICAST_MAX_CHANNELS, MULTICAST_MAX_CHANNELS, 5]);
  assert.deepEqual(parts.flatMap((p) => decodeMulticast(p)!.channels), many);

  // A byte bound: every part within it (one channel always goes, even alone over it).
  const bounded = encodeMulticast(many.slice(0, 100), data, data.length + 60);
  assert.ok(bounded.length > 1);
  for (const p of bounded) assert.ok(p.length <= data.length + 60, `a part of ${p.length} bytes`);
  assert.deepEqual(bounded.flatMap((p) => decodeMulticast(p)!.channels), many.slice(0, 100));

  assert.deepEqual(encodeMulticast([], data), []);
  assert.equal(decodeMulticast(enc("user.a user.b")), undefined, "no newline: not a multicast");
});

test("multicast - its name is no channel", () => {
  assert.equal(isChannel(MULTICAST_NAME), false);
  assert.equal(isChannel(`${MULTICAST_NAME}.x`), true);
  assert.equal(isChannel("user.a b"), false);
  assert.throws(() => channel(MULTICAST_NAME), { code: "bad_request" });
});
