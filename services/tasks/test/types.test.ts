import { test } from "node:test";
import assert from "node:assert/strict";
import { ColmenaError } from "@colmena/protocol";
import { TaskTypes } from "@colmena/tasks";

const types = new TaskTypes();
const run = async (type: string | number, input: unknown) => {
  const t = types.resolve(type);
  return t.run(t.parse(input) as never, { signal: new AbortController().signal, progress: () => {}, attempt: 1 });
};

test("tasks types - every name, alias and code resolves, codes as strings or integers", () => {
  const table: Record<string, (string | number)[]> = {
    uppercase: ["uppercase", "1", 1, "mayus", "upper", "UPPER", " Mayus "],
    reverse: ["reverse", "2", 2, "invertir", "reversa"],
    word_count: ["word_count", "3", 3, "contar", "palabras"],
    sleep: ["sleep", "4", 4, "espera", "delay"],
  };
  for (const [name, names] of Object.entries(table)) for (const n of names) assert.equal(types.resolve(n).name, name, String(n));
  assert.deepEqual(types.names().sort(), ["reverse", "sleep", "uppercase", "word_count"]);
});

test("tasks types - an unknown type is bad_request naming the known ones", () => {
  for (const bad of ["nope", 0, 5, "5", -1, "1.0", "", "upper case"]) {
    assert.throws(() => types.resolve(bad), (e: unknown) => ColmenaError.is(e, "bad_request") && /uppercase/.test((e as Error).message), String(bad));
  }
});

test("tasks types - results follow protocol.md section 5", async () => {
  assert.equal(await run("uppercase", "hola mundo ñ"), "HOLA MUNDO Ñ");
  assert.equal(await run("reverse", "abc"), "cba");
  assert.equal(await run("reverse", "a😀b"), "b😀a", "reversed by code point, the pair stays whole");
  assert.equal(await run("word_count", "  uno\tdos\n tres  "), 3);
  assert.equal(await run("word_count", "   "), 0);
  assert.equal(await run("word_count", ""), 0);
  assert.equal(await run("sleep", 0), 0);
  assert.equal(await run("sleep", "0"), 0);
});

test("tasks types - bad input is bad_request", () => {
  const bad: [string, unknown][] = [
    ["uppercase", 5], ["uppercase", null], ["reverse", { a: 1 }], ["word_count", ["x"]],
    ["uppercase", "x".repeat(256 * 1024 + 1)], ["uppercase", "ñ".repeat(128 * 1024 + 1)],
    ["sleep", -1], ["sleep", 61], ["sleep", "abc"], ["sleep", ""], ["sleep", "NaN"], ["sleep", null], ["sleep", "Infinity"],
  ];
  for (const [type, input] of bad) assert.throws(() => types.resolve(type).parse(input), (e: unknown) => ColmenaError.is(e, "bad_request"), `${type} ${String(input).slice(0, 20)}`);
  assert.equal((types.resolve("uppercase").parse("x".repeat(256 * 1024)) as string).length, 256 * 1024, "exactly 256 KiB is fine");
  assert.equal(types.resolve("sleep").parse("2.5"), 2.5);
  assert.equal(types.resolve("sleep").parse(60), 60);
});

test("tasks types - sleep reports progress and stops when aborted", async () => {
  const t = types.resolve("sleep");
  const seen: number[] = [];
  const ac = new AbortController();
  const started = Date.now();
  setTimeout(() => ac.abort(new Error("stop")), 1300);
  await assert.rejects(Promise.resolve(t.run(2, { signal: ac.signal, progress: (p) => seen.push(p), attempt: 1 })));
  assert.ok(Date.now() - started < 1900, "stopped at the abort, not at the end");
  assert.equal(seen.length, 1);
  assert.ok(seen[0] > 0.4 && seen[0] <= 0.6, `progress after 1 of 2 s: ${seen[0]}`);
});

test("tasks types - a name used twice is refused", () => {
  assert.throws(() => new TaskTypes([types.resolve("upper"), { ...types.resolve("reverse"), aliases: ["mayus"] }]), /used twice/);
});
