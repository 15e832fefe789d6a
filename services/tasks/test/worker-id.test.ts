import { test } from "node:test";
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { silentLogger } from "@colmena/runtime";
import { startNats } from "@colmena/testing";
import { claimWorkerId, isWorkerLive } from "../src/worker-id.ts";

test("worker ids - the smallest free n on this host, freed on release; a claim the bucket refuses is thrown, not taken for a held id", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  try {
    const kv = await new Kvm(nc).create("worker-ids-test", { ttl: 15_000, history: 1 });
    const a = await claimWorkerId(kv, 15_000, silentLogger());
    const b = await claimWorkerId(kv, 15_000, silentLogger());
    assert.match(a.id, /^worker-.+-1$/);
    assert.match(b.id, /^worker-.+-2$/);
    assert.ok(await isWorkerLive(kv, a.id));
    await a.release();
    assert.ok(!(await isWorkerLive(kv, a.id)));
    const again = await claimWorkerId(kv, 15_000, silentLogger());
    assert.equal(again.id, a.id, "a released n is taken again");
    await Promise.all([b.release(), again.release()]);

    // Values larger than the bucket takes: every id would fail the same way, so the first failure is the answer
    // (before, each was taken for "held by a live worker", and the claim ended in "no free worker id").
    const tiny = await new Kvm(nc).create("worker-ids-tiny", { ttl: 15_000, history: 1, maxValueSize: 1 });
    await assert.rejects(claimWorkerId(tiny, 15_000, silentLogger()), (err: Error) => !/no free worker id/.test(err.message));
  } finally {
    await nc.close();
  }
});
