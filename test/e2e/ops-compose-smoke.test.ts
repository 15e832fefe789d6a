/** @test-exclusive (scripts/run-tests.mjs: runs alone, after the others)
 * The compose file, run without docker (issue 16 items 2, 4 and 5): each
 * Colmena service of docker-compose.yml as a local process with its own
 * command and environment (ops-fleet.ts: NATS_URL pointed at a local 3-node
 * cluster, the data volume at a temp dir, ports picked free), all ready,
 * then a mixed load (tasks with wait, chat, files, notify, auth; writes and
 * reads) while every service in turn is rolled: a second replica started,
 * the first SIGTERMed. Each must exit 0 and no client request may fail.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Fleet, MIXED_OPS, MixedLoad, describeOutcome } from "./ops-fleet.ts";

let fleet: Fleet | undefined;
let load: MixedLoad | undefined;
after(async () => {
  await load?.stop();
  await fleet?.stop();
});

test("compose smoke - every compose service as its own process on a 3-node cluster: ready, rolled one by one under mixed load with zero failed requests, each exits 0", { timeout: 300_000 }, async () => {
  fleet = await Fleet.start();
  const f = fleet;
  const t0 = Date.now();
  const first = await f.startAll();
  const startupMs = Date.now() - t0;
  // Every op answers once before any restart (the smoke part), then the loops run.
  load = await MixedLoad.start(f.gatewayUrls);
  const l = load;

  const rolls: string[] = [];
  for (const [name] of f.services) {
    const old = first.get(name)!;
    await f.start(name);
    const t = Date.now();
    old.signal("SIGTERM");
    const code = await old.exited;
    rolls.push(`${name} ${Date.now() - t} ms`);
    assert.equal(code, 0, `${name} exits 0 on SIGTERM\n${old.output()}`);
    await l.progress();
  }
  await l.stop();
  const failed = l.failuresBetween(0);
  console.log(`# compose smoke: ${f.services.length} services ready in ${startupMs} ms; SIGTERM to exit: ${rolls.join(", ")}; answered ${JSON.stringify(l.counts())}; failed ${failed.length}`);
  if (failed.length) console.log(f.errorLines().join("\n"));
  assert.deepEqual(failed.map(describeOutcome), [], "no request failed while every service was rolled");
  for (const [op] of MIXED_OPS) assert.ok((l.counts()[op] ?? 0) > 0, `${op} was answered under load`);
});
