/**
 * What operators watch (issue 16 item 6): `colmena status` reads the NATS
 * monitoring port and shows the server, each stream's size and each
 * consumer's lag and redeliveries; `--prometheus` prints the same figures
 * as Prometheus text.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Cli } from "./cli-runner.ts";
import { startSystem, type System } from "./harness.ts";

let sys: System;
let cli: Cli;
before(async () => {
  sys = await startSystem({ services: ["auth", "tasks"] });
  cli = new Cli(sys.gateway.tcpUrl, { password: "" });
});
after(async () => {
  await sys?.stop();
  cli?.[Symbol.dispose]();
});

const colmena = (args: string[]) => cli.run(args);

test("ops - colmena status shows NATS, each stream's size and each consumer's lag; --prometheus the same as metrics", { timeout: 90_000 }, async () => {
  const { client } = await sys.user();
  for (let i = 0; i < 3; i++) await client.request("tasks.submit", { type: "uppercase", input: `s${i}`, wait: true });
  const status = await colmena(["status", "--http", sys.gateway.httpUrl, "--nats-monitor", sys.nats.monitorUrl]);
  assert.equal(status.code, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /^nats\s+\S+ v2\.\d+\.\d+: \d+ connections/m);
  assert.match(status.stdout, /^jetstream\s+\d+ streams, \d+ consumers/m);
  const tasks = /^stream\s+TASKS: (\d+) messages/m.exec(status.stdout);
  assert.ok(tasks && Number(tasks[1]) >= 6, `the TASKS stream and its size:\n${status.stdout}`);
  assert.match(status.stdout, /^consumer\s+TASKS\/\S+: lag \d+, unacked \d+, redelivered \d+/m);

  const prom = await colmena(["status", "--prometheus", "--nats-monitor", sys.nats.monitorUrl]);
  assert.equal(prom.code, 0, prom.stderr);
  const row = /^colmena_nats_stream_messages\{server="[^"]+",stream="TASKS"\} (\d+)$/m.exec(prom.stdout);
  assert.ok(row && Number(row[1]) >= 6, prom.stdout);
  assert.match(prom.stdout, /^colmena_nats_consumer_pending\{server="[^"]+",stream="TASKS",consumer="[^"]+"\} \d+$/m);
  assert.match(prom.stdout, /^# TYPE colmena_nats_consumer_redelivered gauge$/m);
});
