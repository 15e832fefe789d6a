import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startNats } from "@colmena/testing";
import { Puller, type WorkMsg } from "../src/work-pull.ts";

test("work pull - messages that come after a no-wait pull gave up go to onLate, never to the next pull of another consumer", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PULL", subjects: ["pull.>"] });
    for (const name of ["hi", "lo"]) {
      await jsm.consumers.add("PULL", { durable_name: name, filter_subject: `pull.${name}.*`, ack_policy: AckPolicy.Explicit });
    }
    const js = jetstream(nc);
    await js.publish("pull.hi.1", "a");
    await js.publish("pull.hi.2", "b");
    await js.publish("pull.lo.1", "c");

    const late: WorkMsg[] = [];
    const puller = new Puller(nc, (m) => late.push(m));
    try {
      // A pull that gives up before the server can answer: its messages arrive late.
      // Holding the event loop past the pull's 0 ms deadline makes its timer fire
      // (timers phase) before the answer is read from the socket (poll phase).
      const gaveUp = puller.pullBatch("PULL", "hi", 10, 0);
      for (const until = Date.now() + 20; Date.now() < until; );
      assert.deepEqual(await gaveUp, []);
      const deadline = Date.now() + 5000;
      while (late.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(late.map((m) => m.subject), ["pull.hi.1", "pull.hi.2"]);
      // The next pull, of another consumer, gets only that consumer's message.
      const lo = await puller.pullBatch("PULL", "lo", 10);
      assert.deepEqual(lo.map((m) => m.subject), ["pull.lo.1"]);
      assert.deepEqual(late.map((m) => m.consumer), ["hi", "hi"], "a late message names the durable that delivered it");
      for (const m of [...late, ...lo]) m.ack();
    } finally {
      await puller.drain();
    }
  } finally {
    await nc.close();
  }
});
