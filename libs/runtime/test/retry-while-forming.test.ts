import { test } from "node:test";
import assert from "node:assert/strict";
import { NoRespondersError, RequestError } from "@nats-io/transport-node";
import { retryWhileForming } from "../src/streams.ts";

test("retryWhileForming - tries again while the cluster answers as a forming one does, then gives the result", async () => {
  const failures: Error[] = [
    new Error("insufficient resources: no suitable peers for placement"),
    // What nats.js throws for a KV put nobody answered: the no-responders error wrapped.
    new Error("jetstream is not enabled", { cause: new RequestError("no responders", { cause: new NoRespondersError("$KV.b.k") }) }),
  ];
  let calls = 0;
  const started = Date.now();
  const v = await retryWhileForming(async () => {
    calls++;
    const f = failures.shift();
    if (f) throw f;
    return "stored";
  });
  assert.equal(v, "stored");
  assert.equal(calls, 3);
  assert.ok(Date.now() - started >= 900, "it waits between tries");
});

test("retryWhileForming - any other failure, or one past the deadline, is thrown at once", async () => {
  let calls = 0;
  await assert.rejects(retryWhileForming(async () => { calls++; throw new Error("wrong last sequence: 3"); }), /wrong last sequence/);
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(retryWhileForming(async () => { calls++; throw new NoRespondersError("x"); }, 0), NoRespondersError);
  assert.ok(calls <= 2, `gave up at the deadline (${calls} tries)`);
});
