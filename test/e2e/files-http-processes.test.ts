/** @test-exclusive (scripts/run-tests.mjs: runs alone, after the others)
 * Files over HTTP with the gateway and a files replica each in a process of
 * its own (as deployed), so their memory can be measured apart: a large PUT
 * and GET through the gateway keep both RSS flat in the file's size (growth
 * over the idle process bounded, whatever the size), and a
 * replica SIGKILLed mid-download ends the response within the bridge's
 * deadline, after which calls answer 503 at once.
 *
 * The size is COLMENA_BIG_MIB (default 64); `COLMENA_BIG_MIB=1024 node
 * scripts/run-tests.mjs files-http-processes` is the 1 GiB run, whose figures
 * (MB/s, peak RSS) it prints as test diagnostics.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKey, signAccessToken } from "@colmena/runtime";
import { freePort, rssOf, startNats, watchRss, type NatsServer } from "@colmena/testing";
import { killAll, spawnService, type ServiceProcess } from "./processes.ts";

const MIB = 1024 * 1024;
const SIZE = Number(process.env.COLMENA_BIG_MIB ?? 64) * MIB;
/** What a transfer may add to a process's resident memory: GC slack and the pieces in flight, never the file. */
const RSS_GROWTH_LIMIT = 96 * MIB;

let nats: NatsServer;
let dataDir: string;
let gateway: ServiceProcess;
let files: ServiceProcess;
let base: string;
let token: string;
let env: NodeJS.ProcessEnv;

/** A part's main.ts in a process of its own, up once it logs `ready` (the gateway's /readyz would wait for auth, which this test does not run). */
const spawnPart = (main: string, extra: NodeJS.ProcessEnv, ready: string) =>
  spawnService({ name: main, command: [main], env: { ...env, ...extra }, wait: { logged: [ready] } });

/** The peak RSS of processes while `work` runs. */
async function peakRss<T>(pids: number[], work: () => Promise<T>): Promise<{ result: T; peaks: number[] }> {
  const watch = watchRss(Object.fromEntries(pids.map((p) => [String(p), p])));
  try {
    const result = await work();
    const peak = watch.stop();
    return { result, peaks: pids.map((p) => peak[String(p)]) };
  } finally {
    watch.stop();
  }
}

/** `size` bytes of a repeating random pattern, produced as they are sent. */
function generated(size: number): { stream: ReadableStream<Uint8Array>; sha: () => string } {
  const block = randomBytes(MIB);
  const hash = createHash("sha256");
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= size) return c.close();
      const piece = block.subarray(0, Math.min(MIB, size - sent));
      sent += piece.length;
      hash.update(piece);
      c.enqueue(new Uint8Array(piece));
    },
  });
  return { stream, sha: () => hash.digest("hex") };
}

before(async () => {
  // fsync on every write would measure the disk, not the bridge.
  nats = await startNats({ sync: "lazy" });
  dataDir = mkdtempSync(join(tmpdir(), "colmena-files-http-"));
  const key = generateSigningKey();
  token = await signAccessToken(key, { userId: "u1", username: "big", family: "f1" }, 3600);
  const port = await freePort();
  env = {
    ...process.env,
    NATS_URL: nats.url,
    COLMENA_DATA_DIR: dataDir,
    COLMENA_FILES_KEY: randomBytes(32).toString("hex"),
    COLMENA_FILES_QUOTA_BYTES: String(4 * SIZE),
    COLMENA_LOG_LEVEL: "info",
  };
  files = await spawnPart("services/files/src/main.ts", { COLMENA_INSTANCE: "f1" }, "files ready");
  gateway = await spawnPart(
    "services/gateway/src/main.ts",
    { COLMENA_HOST: "127.0.0.1", COLMENA_TCP_PORT: "0", COLMENA_HTTP_PORT: String(port), COLMENA_JWT_PUBLIC_KEY: key.publicKey.export({ type: "spki", format: "pem" }).toString() },
    "gateway ready",
  );
  base = `http://127.0.0.1:${port}`;
});

after(async () => {
  await killAll([gateway, files].filter(Boolean));
  await nats?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const auth = () => ({ Authorization: `Bearer ${token}` });

test(`files http processes - a ${SIZE / MIB} MiB PUT and GET through the gateway keep the gateway's and the replica's RSS flat`, async (t) => {
  const body = generated(SIZE);
  const idle = [rssOf(gateway.proc.pid!), rssOf(files.proc.pid!)];
  const up = await peakRss([gateway.proc.pid!, files.proc.pid!], async () => {
    const t0 = Date.now();
    const r = await fetch(`${base}/v1/files/big.bin`, { method: "PUT", headers: auth(), body: body.stream, duplex: "half" } as RequestInit);
    assert.equal(r.status, 201, await r.clone().text());
    const reply = (await r.json()) as { size: number; sha256: string };
    return { reply, ms: Date.now() - t0 };
  });
  assert.equal(up.result.reply.size, SIZE);
  assert.equal(up.result.reply.sha256, body.sha());
  const down = await peakRss([gateway.proc.pid!, files.proc.pid!], async () => {
    const t0 = Date.now();
    const r = await fetch(`${base}/v1/files/big.bin`, { headers: auth() });
    assert.equal(r.status, 200);
    const hash = createHash("sha256");
    let n = 0;
    for await (const c of r.body!) {
      hash.update(c);
      n += c.length;
    }
    return { n, sha: hash.digest("hex"), ms: Date.now() - t0 };
  });
  assert.equal(down.result.n, SIZE);
  assert.equal(down.result.sha, up.result.reply.sha256);
  const mbs = (ms: number) => (SIZE / 1e6 / (ms / 1000)).toFixed(1);
  const mb = (b: number) => (b / MIB).toFixed(0);
  t.diagnostic(`up ${mbs(up.result.ms)} MB/s, down ${mbs(down.result.ms)} MB/s`);
  t.diagnostic(`RSS before: gateway ${mb(idle[0])} MiB, files ${mb(idle[1])} MiB`);
  t.diagnostic(`peak RSS up: gateway ${mb(up.peaks[0])} MiB, files ${mb(up.peaks[1])} MiB; down: gateway ${mb(down.peaks[0])} MiB, files ${mb(down.peaks[1])} MiB`);
  for (const [i, p] of [...up.peaks, ...down.peaks].entries()) assert.ok(p - idle[i % 2] < RSS_GROWTH_LIMIT, `peak RSS ${mb(p)} MiB from ${mb(idle[i % 2])} MiB`);
});

test("files http processes - a replica SIGKILLed mid-download ends the response within the deadline; then 503 at once", async () => {
  const r = await fetch(`${base}/v1/files/big.bin`, { headers: auth() });
  assert.equal(r.status, 200);
  const reader = r.body!.getReader();
  await reader.read();
  const t0 = Date.now();
  files.signal("SIGKILL");
  // Read on (slowly drained buffers) until the cut.
  const ended = await (async () => {
    try {
      for (;;) if ((await reader.read()).done) return "done";
    } catch {
      return "cut";
    }
  })();
  const took = Date.now() - t0;
  assert.equal(ended, "cut", "a cut response is not a complete one");
  assert.ok(took < 6000, `took ${took} ms`);
  const t1 = Date.now();
  const none = await fetch(`${base}/v1/files/big.bin`, { headers: auth() });
  assert.equal(none.status, 503);
  assert.equal(((await none.json()) as { error: { code: string } }).error.code, "unavailable");
  assert.ok(Date.now() - t1 < 2000, `503 took ${Date.now() - t1} ms`);
});
