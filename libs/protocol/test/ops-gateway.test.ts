import { test } from "node:test";
import assert from "node:assert/strict";
import { GATEWAY_SERVICE, OPS, coreServices, legacyOpOf } from "@colmena/protocol";

const defs = Object.values(OPS);

test("ops - exactly the gateway's own ops name a built-in answer, each answer once", () => {
  const answers = defs.filter((d) => d.answer).map((d) => d.answer);
  assert.equal(new Set(answers).size, answers.length);
  for (const d of defs) assert.equal(d.answer !== undefined, d.service === GATEWAY_SERVICE, d.op);
});

test("ops - session effects, connection headers and timeouts are declared only where the gateway can act on them", () => {
  for (const d of defs) {
    if (d.session || d.connHeaders || d.timeout) assert.notEqual(d.service, GATEWAY_SERVICE, `${d.op} is answered by the gateway itself`);
    if (d.timeout) {
      // The declared fields exist in the request schema (defineOp also checks this at compile time).
      const shape = (d.request as unknown as { shape: Record<string, unknown> }).shape;
      assert.ok(Object.hasOwn(shape, d.timeout.field), `${d.op}: no field ${d.timeout.field}`);
      if (d.timeout.when) assert.ok(Object.hasOwn(shape, d.timeout.when), `${d.op}: no field ${d.timeout.when}`);
      assert.ok(d.timeout.defaultMs > 0);
    }
  }
  assert.equal(defs.filter((d) => d.session === "login").length >= 1, true);
  assert.equal(defs.filter((d) => d.session === "logout").length >= 1, true);
});

test("ops - a legacy frame finds the op that serves it, and that op turns it into a valid request", () => {
  const markers = defs.filter((d) => d.legacy).map((d) => d.legacy!.marker);
  assert.equal(new Set(markers).size, markers.length, "two ops claim one legacy marker");
  for (const frame of [null, [], "tipo", { op: "x", tipo: "uppercase" }, { contenido: "x" }]) assert.equal(legacyOpOf(frame), undefined);
  const def = legacyOpOf({ tipo: "uppercase", contenido: "hola", tarea_id: 7 });
  assert.ok(def?.legacy);
  const data = def.legacy.toRequest({ tipo: "uppercase", contenido: "hola", tarea_id: 7 });
  assert.equal(def.request.safeParse(data).success, true, JSON.stringify(data));
  assert.throws(() => def.legacy!.toRequest({ tipo: {}, contenido: "x" }), { code: "bad_request" });
  assert.throws(() => def.legacy!.toRequest({ tipo: "uppercase" }), { code: "bad_request" });
  assert.deepEqual(def.legacy.toAnswer({ tarea_id: 7 }, { task_id: "t_1", result: "HOLA", worker: "w" }), { estado: "ok", resultado: "HOLA", tarea_id: 7, worker: "w" });
});

test("ops - readiness waits for every service that answers ops, but not the gateway or diagnostics", () => {
  const core = coreServices();
  assert.ok(core.includes("auth") && core.includes("tasks"), core.join());
  assert.ok(!core.includes(GATEWAY_SERVICE) && !core.includes("diag"), core.join());
});
