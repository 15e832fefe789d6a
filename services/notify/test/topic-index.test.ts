import { test } from "node:test";
import assert from "node:assert/strict";
import { TopicIndex, patternMatches } from "../src/topic-index.ts";

test("topic index - NATS wildcard semantics", () => {
  const cases: [string, string, boolean][] = [
    ["a.b", "a.b", true], ["a.b", "a.c", false], ["a.*", "a.b", true], ["a.*", "a.b.c", false], ["a.*", "a", false],
    ["a.>", "a.b", true], ["a.>", "a.b.c", true], ["a.>", "a", false], [">", "a", true], [">", "a.b.c", true],
    ["*.b.*", "x.b.y", true], ["*.b.*", "x.c.y", false], ["*", "ab", true], ["*", "a.b", false], ["a.*.>", "a.b", false], ["a.*.>", "a.b.c", true],
  ];
  for (const [pattern, topic, want] of cases) {
    assert.equal(patternMatches(pattern, topic), want, `${pattern} vs ${topic}`);
    const idx = new TopicIndex<string>();
    idx.add(pattern, "k", pattern);
    assert.deepEqual(idx.match(topic), want ? [pattern] : [], `index: ${pattern} vs ${topic}`);
  }
});

test("topic index - add replaces, remove forgets", () => {
  const idx = new TopicIndex<number>();
  idx.add("a.*", "u1", 1);
  idx.add("a.*", "u1", 2);
  idx.add("a.>", "u2", 3);
  assert.equal(idx.size, 2);
  assert.deepEqual(idx.match("a.b").sort(), [2, 3]);
  idx.remove("a.*", "u1");
  idx.remove("x.y", "u1");
  assert.equal(idx.size, 1);
  assert.deepEqual(idx.match("a.b"), [3]);
});

test("topic index - 100,000 subscriptions match exactly what a linear scan finds", () => {
  let seed = 42;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  const words = ["a", "b", "c", "d", "e", "f", "g", "h"];
  const pattern = () => {
    const len = 1 + rnd(4);
    const toks = Array.from({ length: len }, () => (rnd(6) === 0 ? "*" : words[rnd(words.length)]));
    if (rnd(5) === 0) toks.push(">");
    return toks.join(".");
  };
  const subs = Array.from({ length: 100_000 }, (_, i) => ({ key: `u${i}`, pattern: pattern() }));
  const idx = new TopicIndex<string>();
  for (const s of subs) idx.add(s.pattern, s.key, s.key);
  assert.equal(idx.size, subs.length);
  for (let t = 0; t < 200; t++) {
    const topic = Array.from({ length: 1 + rnd(5) }, () => words[rnd(words.length)]).join(".");
    const want = subs.filter((s) => patternMatches(s.pattern, topic)).map((s) => s.key).sort();
    assert.deepEqual(idx.match(topic).sort(), want, topic);
  }
});
