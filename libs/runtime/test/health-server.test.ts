import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { startHealthServer } from "@colmena/runtime";
import { startNats } from "@colmena/testing";

test("health - /healthz follows the NATS connection, /readyz the service's own check, /metrics is Prometheus text", async () => {
  await using ns = await startNats({ jetstream: false });
  const nc = await connect({ servers: ns.url });
  let ready = false;
  const health = await startHealthServer({ port: 0, host: "127.0.0.1", nc, ready: () => ready });
  const get = (path: string) => fetch(`http://127.0.0.1:${health.port}${path}`);
  try {
    assert.equal((await get("/healthz")).status, 200);
    assert.equal((await get("/readyz")).status, 503);
    ready = true;
    assert.equal((await get("/readyz")).status, 200);
    const m = await get("/metrics");
    assert.equal(m.status, 200);
    assert.match(await m.text(), /# TYPE process_cpu_seconds_total counter/);
    assert.equal((await get("/nope")).status, 404);
    await nc.close();
    assert.equal((await get("/healthz")).status, 503);
    assert.equal((await get("/readyz")).status, 503);
  } finally {
    await health.close();
    if (!nc.isClosed()) await nc.close();
  }
});
