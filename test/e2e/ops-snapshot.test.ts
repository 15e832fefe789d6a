/**
 * Read-model snapshots (issue 16 item 3): a replica writes one by itself
 * after enough events; a new replica with no file starts from it and folds
 * only the tail, ending in the state a full fold gives; a stale snapshot (a
 * lower seq) never replaces a newer one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { ReadModel, connectNats, ensureStream, silentLogger } from "@colmena/runtime";
import { startNats, waitUntil } from "@colmena/testing";

const log = silentLogger();

test("read model snapshots - a replica writes one, a new replica starts from it and folds only the tail, newest wins", { timeout: 60_000 }, async () => {
  await using nats = await startNats();
  const nc = await connectNats({ servers: nats.url, name: "snap", log });
  const dir = mkdtempSync(join(tmpdir(), "colmena-snap-"));
  try {
    await ensureStream(nc, { name: "SNAP", subjects: ["snap.>"] });
    const js = jetstream(nc);
    const publish = async (from: number, n: number) => {
      for (let i = from; i < from + n; i += 250) await Promise.all(Array.from({ length: Math.min(250, from + n - i) }, (_, j) => js.publish(`snap.k${(i + j) % 100}`, JSON.stringify({ v: i + j }))));
    };
    await publish(0, 3000);
    let applied = 0;
    const open = (file: string) =>
      ReadModel.open({
        nc, stream: "SNAP", file, name: "snap", log,
        snapshots: { bucket: "snap_snapshots", everyEvents: 1000, minIntervalMs: 0 },
        migrate: (db) => db.exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"),
        apply: (db, ev) => {
          applied++;
          db.prepare("INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v").run(ev.subject, (ev.json() as { v: number }).v);
        },
      });
    const a = await open(join(dir, "a.sqlite"));
    assert.equal(applied, 3000);
    const os = await new Objm(nc).open("snap_snapshots");
    await waitUntil("a snapshot written by the replica itself", async () => Number((await os.info("snap"))?.metadata?.seq ?? 0) >= 1000);
    await a.snapshot();
    const covered = Number((await os.info("snap"))!.metadata!.seq);
    assert.equal(covered, 3000, "a snapshot of everything committed");
    const full = a.db.prepare("SELECT k, v FROM kv ORDER BY k").all();
    await a.close();

    await publish(3000, 200);
    applied = 0;
    const b = await open(join(dir, "b.sqlite"));
    assert.equal(applied, 200, "the new replica folded only the tail");
    assert.equal(b.lastSeq, 3200);
    const expected = new Map(full.map((r: any) => [r.k, r.v]));
    for (const r of b.db.prepare("SELECT k, v FROM kv").all() as { k: string; v: number }[]) if (r.v >= 3000) expected.set(r.k, r.v);
    assert.deepEqual(new Map((b.db.prepare("SELECT k, v FROM kv").all() as { k: string; v: number }[]).map((r) => [r.k, r.v])), expected);
    await b.close();

    // A replica behind the stored snapshot does not replace it.
    applied = 0;
    const c = await ReadModel.open({
      nc, stream: "SNAP", file: join(dir, "c.sqlite"), name: "snap", log,
      snapshots: { bucket: "snap_snapshots", everyEvents: Number.MAX_SAFE_INTEGER },
      migrate: (db) => db.exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"),
      apply: () => void applied++,
    });
    assert.equal(applied, 200, "c started from the snapshot too");
    await os.putBlob({ name: "snap", metadata: { seq: "999999" } }, new Uint8Array([1]));
    await c.snapshot();
    assert.equal((await os.info("snap"))!.metadata!.seq, "999999", "the newer snapshot stays");
    await c.close();
  } finally {
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
