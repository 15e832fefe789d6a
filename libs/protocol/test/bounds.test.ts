import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import { ColmenaError, ERROR_LIMITS, FrameError, ISSUE_LIMITS, MAX_DATA_DEPTH, nestsDeeperThan, parseRequest, parseWith, utf8Bytes, utf8Length } from "@colmena/protocol";

const manyKeys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 0]));

test("bounds - 40,000 unknown keys make a bad_request of a few hundred bytes, naming a few keys", () => {
  const schema = z.strictObject({ username: z.string(), password: z.string() });
  let err: unknown;
  try {
    parseWith(schema, { username: "abc", password: "12345678", ...manyKeys(40_000) });
  } catch (e) {
    err = e;
  }
  assert.ok(ColmenaError.is(err, "bad_request"));
  const body = JSON.stringify(err.toBody());
  assert.ok(body.length < 2048, `${body.length} bytes`);
  assert.match(err.message, /unknown fields: "k0", "k1",.* and 39990 more/);
});

test("bounds - thousands of failing fields are listed up to the limit, then counted", () => {
  let err: unknown;
  try {
    parseWith(z.array(z.string()), Array.from({ length: 5000 }, () => 1));
  } catch (e) {
    err = e;
  }
  assert.ok(ColmenaError.is(err, "bad_request"));
  const details = err.details as { path: string; message: string }[];
  assert.equal(details.length, ISSUE_LIMITS.issues + 1);
  assert.deepEqual(details.at(-1), { path: "(data)", message: `and ${5000 - ISSUE_LIMITS.issues} more issues` });
});

test("bounds - an error's message and details are bounded whoever builds them", () => {
  const e = new ColmenaError("not_found", `no task ${"x".repeat(100_000)}`, { details: Array.from({ length: 10_000 }, (_, i) => ({ i, pad: "y".repeat(50) })) });
  assert.equal(e.message.length, ERROR_LIMITS.messageChars);
  assert.ok(e.message.endsWith("…"));
  const kept = e.details as unknown[];
  assert.ok(kept.length > 0 && JSON.stringify(kept).length <= ERROR_LIMITS.detailsChars, "a long list keeps the items that fit");
  assert.equal(new ColmenaError("internal", "x", { details: { big: "z".repeat(100_000) } }).details, undefined, "a large object is dropped");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(new ColmenaError("internal", "x", { details: cyclic }).details, undefined, "what cannot be serialised is dropped");
  for (const text of ["😀".repeat(2000), "a" + "😀".repeat(2000)]) {
    const m = new ColmenaError("internal", text).message;
    assert.ok(m.length <= ERROR_LIMITS.messageChars && m.endsWith("…"));
    assert.equal(m.codePointAt(m.length - 3), "😀".codePointAt(0), "never cut inside a surrogate pair");
  }
});

test("bounds - data nested past the limit is bad_request with the id, at any depth, without recursion", () => {
  let deep: unknown = 0;
  for (let i = 0; i < 200_000; i++) deep = i % 2 ? [deep] : { a: deep };
  assert.throws(() => parseRequest({ id: 9, op: "diag.echo", data: { payload: deep } }), (e: unknown) => e instanceof FrameError && e.code === "bad_request" && e.id === 9);
  let ok: unknown = 0;
  for (let i = 1; i < MAX_DATA_DEPTH; i++) ok = [ok];
  assert.equal(nestsDeeperThan({ x: ok }, MAX_DATA_DEPTH), false, "exactly the limit is fine");
  assert.equal(nestsDeeperThan({ x: [ok] }, MAX_DATA_DEPTH), true);
  assert.equal(nestsDeeperThan({ bytes: new Uint8Array(1 << 20) }, 2), false, "binary is a leaf, not 1 Mi children");
  assert.deepEqual(parseRequest({ id: 1, op: "x", data: { x: ok } }).data, { x: ok });
});

/** Any code point, or a lone surrogate half (what a JavaScript string may hold and UTF-8 cannot). */
const codeUnitOrPoint = fc.oneof(
  fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
);

test("bounds - utf8Length counts what Buffer.byteLength counts, lone surrogates included, without Buffer", () => {
  fc.assert(
    fc.property(fc.string({ unit: codeUnitOrPoint, maxLength: 60 }), (s) =>
      utf8Length(s) === Buffer.byteLength(s, "utf8") && Buffer.from(utf8Bytes(s)).equals(Buffer.from(s, "utf8")),
    ),
    { numRuns: 3000 },
  );
  assert.equal(utf8Length("a\u00e9\u20ac\u{1F600}"), 1 + 2 + 3 + 4);
  assert.equal(utf8Length("\uD83D"), 3);
});
