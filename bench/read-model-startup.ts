/**
 * Replica startup with and without a read-model snapshot (issue 16 item 3):
 * a stream of N events, a model folding them into SQLite, the time a new
 * replica (no file of its own) takes to be caught up, folding from the start
 * or starting from the snapshot plus a tail of 1,000 events.
 *
 *   npx tsx bench/read-model-startup.ts 100000 1000000
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { ReadModel, connectNats, ensureStream, silentLogger } from "@colmena/runtime";
import { startNats } from "@colmena/testing";

const log = silentLogger();
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);

async function publish(js: ReturnType<typeof jetstream>, from: number, count: number): Promise<void> {
  const batch = 500;
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    await Promise.all(Array.from({ length: n }, (_, j) => js.publish(`ev.k${(from + i + j) % 50_000}`, JSON.stringify({ v: from + i + j }))));
  }
}

/** This process's CPU time (user + system) since `from`, in ms: the fold runs here, so it is the replica's own cost whatever the machine's load. */
function cpuMs(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return Math.round((d.user + d.system) / 1000);
}

async function main(): Promise<void> {
  await using nats = await startNats({ sync: "lazy" }); // fast publishing of the events; folding is what is measured
  const nc = await connectNats({ servers: nats.url, name: "bench-rm", log });
  const dir = mkdtempSync(join(tmpdir(), "colmena-rm-bench-"));
  try {
    for (const size of sizes.length ? sizes : [100_000]) {
      const stream = `EV${size}`;
      await ensureStream(nc, { name: stream, subjects: [`ev.>`.replace("ev", `ev${size}`)] });
      const js = jetstream(nc);
      const jsp = { publish: (s: string, d: string) => js.publish(s.replace(/^ev/, `ev${size}`), d) } as unknown as ReturnType<typeof jetstream>;
      let t = performance.now();
      await publish(jsp, 0, size);
      const pubMs = performance.now() - t;
      const open = (file: string) =>
        ReadModel.open({
          nc, stream, file, name: `bench-${size}`, log,
          snapshots: { bucket: "bench_snapshots", everyEvents: Number.MAX_SAFE_INTEGER },
          migrate: (db) => db.exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"),
          apply: (db, ev) => void db.prepare("INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v").run(ev.subject, (ev.json() as { v: number }).v),
        });
      // A replica with no file and no snapshot: folds the whole stream.
      t = performance.now();
      let cpu = process.cpuUsage();
      const first = await open(join(dir, `a-${size}.sqlite`));
      const coldMs = performance.now() - t;
      const coldCpuMs = cpuMs(cpu);
      t = performance.now();
      await first.snapshot();
      const snapMs = performance.now() - t;
      await first.close();
      await publish(jsp, size, 1000); // the tail a new replica folds after the snapshot
      t = performance.now();
      cpu = process.cpuUsage();
      const second = await open(join(dir, `b-${size}.sqlite`));
      const warmMs = performance.now() - t;
      const warmCpuMs = cpuMs(cpu);
      const rows = second.db.prepare("SELECT count(*) AS n FROM kv").get() as { n: number };
      await second.close();
      console.log(`${size} events (published in ${Math.round(pubMs)} ms): new replica without snapshot ${Math.round(coldMs)} ms (${coldCpuMs} ms CPU); snapshot written in ${Math.round(snapMs)} ms; new replica from snapshot + 1000-event tail ${Math.round(warmMs)} ms (${warmCpuMs} ms CPU; ${(coldCpuMs / Math.max(1, warmCpuMs)).toFixed(1)}x less) (${rows.n} rows, last seq ${second.lastSeq})`);
    }
  } finally {
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
