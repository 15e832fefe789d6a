import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ColmenaError, FrameError, OPS, parseRequest, readId } from "@colmena/protocol";

test("protocol - a valid request parses, data defaults to {}", () => {
  assert.deepEqual(parseRequest({ id: 7, op: "ping" }), { id: 7, op: "ping", data: {} });
  assert.deepEqual(parseRequest({ id: "a", op: "x", data: { k: 1 } }), { id: "a", op: "x", data: { k: 1 } });
});

test("protocol - bad frames are bad_frame, with the id echoed when readable", () => {
  const cases: [unknown, string | number | null][] = [
    [null, null], [[], null], ["str", null], [42, null], [{}, null], [{ op: "ping" }, null],
    [{ id: "", op: "ping" }, null], [{ id: "x".repeat(65), op: "ping" }, null], [{ id: 1.5, op: "ping" }, null],
    [{ id: true, op: "ping" }, null], [{ id: { a: 1 }, op: "ping" }, null],
    [{ id: 3 }, 3], [{ id: 3, op: "" }, 3], [{ id: 3, op: 7 }, 3], [{ id: "z", op: "ping", data: [] }, "z"], [{ id: 4, op: "ping", data: null }, 4],
  ];
  for (const [frame, id] of cases) {
    assert.throws(() => parseRequest(frame), (e: unknown) => e instanceof FrameError && e.code === "bad_frame" && e.id === id, JSON.stringify(frame));
  }
});

test("protocol - parseRequest never throws anything but a FrameError", () => {
  fc.assert(
    fc.property(fc.anything(), (v) => {
      try {
        parseRequest(v);
      } catch (e) {
        return e instanceof FrameError;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  assert.equal(readId({ id: 9 }), 9);
});

test("protocol - every op's request schema is strict: unknown fields are bad_request", () => {
  for (const def of Object.values(OPS)) {
    const r = def.request.safeParse({ __surely_unknown__: 1 });
    assert.equal(r.success, false, `${def.op} accepts unknown fields`);
    assert.ok(def.summary.length > 0);
    assert.ok(def.op.startsWith(def.service === "gateway" ? "" : `${def.service}.`), `${def.op} is not under ${def.service}`);
  }
  assert.ok(ColmenaError);
});
