import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { repoRoot } from "@colmena/runtime";
import { startNats } from "@colmena/testing";
import { b64, call, unb64 } from "./helpers.ts";

/** A files replica in a process of its own, ready once it logs so (JSON lines on stderr). */
function replica(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot(), "services/files/src/main.ts")], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stderr!.on("data", (d) => {
      out += d;
      if (out.includes("files ready")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`files replica exited (${code}): ${out}`)));
  });
}

test("files replicas - a replica SIGKILLed in the middle of an upload: the upload goes on and commits through the other", async () => {
  await using ns = await startNats();
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-files-kill-"));
  const env = { NATS_URL: ns.url, COLMENA_DATA_DIR: dataDir, COLMENA_FILES_KEY: randomBytes(32).toString("hex"), COLMENA_LOG_LEVEL: "info" };
  const a = await replica({ ...env, COLMENA_INSTANCE: "a" });
  const b = await replica({ ...env, COLMENA_INSTANCE: "b" });
  const nc = await connect({ servers: ns.url });
  try {
    const data = randomBytes(64_000 * 20);
    const up = await call(nc, "files.upload.begin", { path: "killed/upload.bin", size: data.length });
    let received = 0;
    let killed = false;
    while (received < data.length) {
      if (!killed && received >= data.length / 2) {
        a.kill("SIGKILL");
        killed = true;
      }
      try {
        received = (await call(nc, "files.upload.chunk", { upload_id: up.upload_id, offset: received, data: b64(data.subarray(received, received + 64_000)) })).received;
      } catch {
        // The request went to the dead replica (no answer): ask where the upload stands, as a client resuming does.
        await sleep(200);
        received = (await call(nc, "files.upload.status", { upload_id: up.upload_id })).received;
      }
    }
    assert.ok(killed);
    const done = await call(nc, "files.upload.commit", { upload_id: up.upload_id });
    assert.equal(done.size, data.length);
    const parts: Buffer[] = [];
    for (let at = 0, eof = false; !eof; ) {
      const r = await call(nc, "files.read", { path: "killed/upload.bin", offset: at, length: 700_000 });
      parts.push(unb64(r.data));
      at += parts[parts.length - 1].length;
      eof = r.eof;
    }
    assert.deepEqual(Buffer.concat(parts), data);
  } finally {
    a.kill("SIGKILL");
    b.kill("SIGTERM");
    await nc.close();
    await new Promise((r) => (b.exitCode !== null ? r(null) : b.once("exit", r)));
    rmSync(dataDir, { recursive: true, force: true });
  }
});
