/**
 * The read model on a 3-node cluster whose stream has a replica that lags:
 * nats-server places a model's ephemeral consumer on any replica, and one
 * on a follower still catching up after a restart counts fewer events than
 * the leader has. A model must never claim a sequence it has not folded.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startNatsCluster, uniqueName } from "@colmena/testing";
import { ReadModel, ensureStream, silentLogger } from "@colmena/runtime";

const EVENTS = 20_000;

test("read model - models opened while a replica catches up each hold every event up to the seq they claim", async (t) => {
  // No fsync per write: 20,000 stored events on three nodes beside the other tests.
  await using cluster = await startNatsCluster(3, { sync: "lazy" });
  const nc = await connect({ servers: cluster.urls });
  t.after(() => nc.close());
  const stream = uniqueName("RMLAG");
  const subj = stream.toLowerCase();
  await ensureStream(nc, { name: stream, subjects: [`${subj}.>`], num_replicas: 3 });
  const leader = (await (await jetstreamManager(nc)).streams.info(stream)).cluster!.leader;
  // A follower of the stream that does not lead the meta group either: killing the meta leader leaves
  // JetStream's API without answers until the next election (a CI run timed out on it).
  const metaLeader = ((await (await fetch(`${cluster.servers[0].monitorUrl}/jsz`)).json()) as { meta_cluster?: { leader?: string } }).meta_cluster?.leader;
  const lagging = cluster.servers.find((s) => s.name !== leader && s.name !== metaLeader)!;
  // Events stored while one follower is down: back, it has all of them to catch up on. One in 50 is
  // the models' (their filter), so that a model folds fast and many open during the catch-up.
  // Published and watched through a node that stays up (a request in flight on a node that dies is lost).
  const pub = await connect({ servers: cluster.servers.find((s) => s.name === leader)!.url, ignoreClusterUpdates: true });
  t.after(() => pub.close());
  const js = jetstream(pub);
  const jsm = await jetstreamManager(pub);
  await lagging.kill();
  const body = "x".repeat(512);
  const mine: number[] = [];
  for (let i = 0; i < EVENTS; i += 500) {
    await Promise.all(Array.from({ length: 500 }, async (_, j) => {
      const ours = (i + j) % 50 === 0;
      const { seq } = await js.publish(`${subj}.${ours ? "mine" : "other"}.e${i + j}`, body, { timeout: 30_000 });
      if (ours) mine.push(seq);
    }));
  }
  const last = (await jsm.streams.info(stream)).state.last_seq;
  // Not awaited: the launcher waits for the node's /healthz, which answers only once its streams are current.
  let back = false;
  const restarted = lagging.restart().then(() => { back = true; });

  // Models opened four at a time until the follower is current: some land their consumer on it while it lags
  // (before the fix, 24 opened in one run and several claimed seq 20000 having folded nothing).
  const opened: { at: number; folded: number }[] = [];
  const current = async () => (await jsm.streams.info(stream)).cluster?.replicas?.find((r) => r.name === lagging.name)?.current === true;
  const deadline = Date.now() + 20_000;
  do {
    const models = await Promise.all(Array.from({ length: 4 }, async (_, i) => {
      const own = await connect({ servers: cluster.urls });
      const m = await ReadModel.open({
        nc: own, stream, filterSubjects: [`${subj}.mine.>`], file: ":memory:", name: `lag-${opened.length + i}`, log: silentLogger(),
        migrate: (db) => db.exec("CREATE TABLE IF NOT EXISTS seen (seq INTEGER PRIMARY KEY)"),
        apply: (db, ev) => { db.prepare("INSERT INTO seen (seq) VALUES (?)").run(ev.seq); },
      });
      return Object.assign(m, { own });
    }));
    for (const m of models) {
      opened.push({ at: m.lastSeq, folded: (m.db.prepare("SELECT count(*) AS n FROM seen").get() as { n: number }).n });
      await m.close();
      await m.own.close();
    }
  } while (!(back && (await current())) && Date.now() < deadline);
  await restarted;
  for (const { at, folded } of opened) {
    assert.ok(at >= last, `a model is open only once caught up (at ${at}, stream at ${last})`);
    assert.equal(folded, mine.filter((s) => s <= at).length, `a model at seq ${at} has folded every event of its filter up to it`);
  }
});
