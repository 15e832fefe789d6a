/**
 * The pieces that bound password work, on their own: the failure throttle
 * (with a clock the test moves), the hashing queue, and address keys.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { ColmenaError } from "@colmena/protocol";
import { FailureThrottle } from "../src/throttle.ts";
import { HashQueue } from "../src/hash-queue.ts";
import { addressKey } from "../src/attempts.ts";

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const limits = { limit: 3, baseLockMs: 1_000, maxLockMs: 8_000, decayMs: 60_000 };

function failTimes(th: FailureThrottle, key: string, n: number): void {
  for (let i = 0; i < n; i++) th.fail(key);
}

test("throttle - a key is locked after its limit of failures, for a window that doubles up to the cap", () => {
  const c = clock();
  const th = new FailureThrottle(limits, c.now);
  failTimes(th, "ana", 2);
  assert.deepEqual(th.check("ana"), { ok: true });
  th.fail("ana");
  assert.deepEqual(th.check("ana"), { ok: false, retryAfterMs: 1_000 });
  assert.deepEqual(th.check("bruno"), { ok: true }, "other keys are untouched");
  const windows: number[] = [];
  for (let round = 0; round < 5; round++) {
    const v = th.check("ana");
    assert.equal(v.ok, false);
    const ms = (v as { retryAfterMs: number }).retryAfterMs;
    windows.push(ms);
    c.advance(ms);
    assert.deepEqual(th.check("ana"), { ok: true });
    failTimes(th, "ana", 3);
  }
  assert.deepEqual(windows, [1_000, 2_000, 4_000, 8_000, 8_000]);
});

test("throttle - quiet time forgets failures and one lockout per decay period", () => {
  const c = clock();
  const th = new FailureThrottle(limits, c.now);
  failTimes(th, "ana", 9); // three lockouts: 1 s, 2 s, 4 s
  assert.deepEqual(th.check("ana"), { ok: false, retryAfterMs: 4_000 });
  c.advance(4_000 + 60_000); // the lock ends, then one decay period: two lockouts remembered
  failTimes(th, "ana", 3);
  assert.deepEqual(th.check("ana"), { ok: false, retryAfterMs: 4_000 });
  c.advance(4_000 + 3 * 60_000);
  failTimes(th, "ana", 2);
  c.advance(60_000); // the two failures are forgotten too
  th.fail("ana");
  assert.deepEqual(th.check("ana"), { ok: true });
  c.advance(60_000);
  th.reset("ana");
  assert.equal(th.size, 0, "a clean key is not kept");
});

test("throttle - attempts in flight count against the limit, so a burst cannot overshoot it", () => {
  const th = new FailureThrottle(limits, clock().now);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(th.check("ana"), { ok: true });
    th.begin("ana");
  }
  assert.deepEqual(th.check("ana"), { ok: false }, "busy: no lock yet, so no known wait");
  th.end("ana");
  assert.deepEqual(th.check("ana"), { ok: true });
});

test("hash queue - runs a bounded number at once, refuses at once when full, serves lanes in turn", async () => {
  const q = new HashQueue(1, 3);
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const job = (name: string, wait?: Promise<void>) => async () => {
    order.push(name);
    await (wait ?? sleep(5));
    return name;
  };
  const runs = [q.run("flood", job("f0", gate)), q.run("flood", job("f1")), q.run("flood", job("f2")), q.run("alice", job("a0"))];
  assert.deepEqual(q.load, { running: 1, waiting: 3 });
  const t0 = performance.now();
  await assert.rejects(q.run("bob", job("b0")), (e: unknown) => ColmenaError.is(e, "rate_limited") && (e.retryAfterMs ?? 0) > 0);
  assert.ok(performance.now() - t0 < 50, "a full queue answers at once");
  release();
  assert.deepEqual(await Promise.all(runs), ["f0", "f1", "f2", "a0"]);
  // alice arrived behind two of flood's waiters, and went right after the running one.
  assert.deepEqual(order, ["f0", "f1", "a0", "f2"]);
  assert.deepEqual(q.load, { running: 0, waiting: 0 });
});

test("attempts - address keys: IPv4 as is, IPv4-mapped unwrapped, IPv6 by /64, anything else none", () => {
  assert.equal(addressKey("203.0.113.7"), "203.0.113.7");
  assert.equal(addressKey("::ffff:127.0.0.2"), "127.0.0.2");
  assert.equal(addressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
  assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  for (const bad of [undefined, "", "?", "not an ip", "1.2.3.4:5"]) assert.equal(addressKey(bad), undefined, String(bad));
});
