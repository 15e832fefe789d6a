import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { createOrOpenBucket } from "@colmena/runtime";
import { startNats } from "@colmena/testing";

test("createOrOpenBucket - an existing bucket is used as it is, racing instances configured differently all start, and a create the server refuses is thrown", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  try {
    const first = await createOrOpenBucket(nc, "kept", { ttl: 5_000, history: 1 });
    await first.put("k", "v");
    const second = await createOrOpenBucket(nc, "kept", { ttl: 9_000, history: 1 });
    assert.equal((await second.get("k"))?.string(), "v");
    assert.equal((await second.status()).ttl, 5_000, "the bucket keeps the settings it was created with");

    // Instances starting together with other TTLs: the one whose add loses with "already in use" opens the bucket.
    const names = Array.from({ length: 8 }, (_, i) => `race${i}`);
    const opened = await Promise.all(names.flatMap((n) => [createOrOpenBucket(nc, n, { ttl: 5_000 }), createOrOpenBucket(nc, n, { ttl: 7_000 })]));
    for (const kv of opened) await kv.put("k", "v");

    // One server cannot place three replicas: before, the failed create fell back to nats.js's open, which binds
    // without asking the server, and the service started on a bucket that did not exist.
    await assert.rejects(createOrOpenBucket(nc, "nowhere", { replicas: 3 }), /replicas > 1 not supported/);
  } finally {
    await nc.close();
  }
});
