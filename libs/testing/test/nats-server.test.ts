import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNats, startNatsCluster } from "@colmena/testing";

test("testing - startNats gives a JetStream server that is gone after stop", async () => {
  const ns = await startNats();
  const nc = await connect({ servers: ns.url });
  const jsm = await jetstreamManager(nc);
  const info = await jsm.getAccountInfo();
  assert.ok(info.limits !== undefined);
  await nc.close();
  await ns.stop();
  await assert.rejects(connect({ servers: ns.url, reconnect: false, timeout: 1000 }));
});

test("testing - a server restarts on the same port and keeps its streams", async () => {
  await using ns = await startNats();
  let nc = await connect({ servers: ns.url });
  let jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
  await nc.close();
  await ns.kill("SIGKILL");
  await ns.restart();
  nc = await connect({ servers: ns.url });
  jsm = await jetstreamManager(nc);
  assert.equal((await jsm.streams.info("KEEP")).config.name, "KEEP");
  await nc.close();
});

test("testing - a 3-node cluster holds an R3 stream", async () => {
  await using cluster = await startNatsCluster(3);
  const nc = await connect({ servers: cluster.urls });
  const jsm = await jetstreamManager(nc);
  const si = await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3 });
  assert.equal(si.config.num_replicas, 3);
  assert.equal(si.cluster?.replicas?.length, 2);
  await nc.close();
});

test("testing - SIGTERM is a clean stop (nats-server 2.11+ exits 0), SIGKILL is not", async () => {
  await using ns = await startNats();
  assert.deepEqual(await ns.kill("SIGTERM"), { code: 0, signal: null, clean: true });
  assert.equal(ns.pid(), null);
  await ns.restart();
  const exit = await ns.kill("SIGKILL");
  assert.equal(exit?.clean, false);
  assert.equal(exit?.signal, "SIGKILL");
});
