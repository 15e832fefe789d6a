/**
 * Memory cannot be exhausted without logging in (issue 14, item 4):
 * connection caps in all and per address, a frame timeout, and the
 * gateway's RSS measured in its own process under the original attack.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { WebSocket } from "ws";
import { connect } from "@nats-io/transport-node";
import { loadSigningKey, repoRoot } from "@colmena/runtime";
import { startNats } from "@colmena/testing";
import { TcpClient, startRig, sleep, until } from "./helpers.ts";

test("connection limits - over the per-address and total caps TCP gets rate_limited and WebSocket 429; a closed connection frees its slot", async () => {
  await using rig = await startRig({ overrides: { maxConnections: 5, maxConnectionsPerIp: 3 } });
  const held = [await rig.tcp(), await rig.tcp(), await rig.ws()];
  const over = await rig.tcp();
  const r = await over.inbox.take();
  assert.deepEqual([r.id, r.error.code], [null, "rate_limited"]);
  assert.ok(r.error.retry_after_ms > 0);
  assert.match(r.error.message, /your address holds its limit of 3 connections/);
  await over.closed;
  await assert.rejects(rig.ws(), /upgrade refused: 429/);
  for (const c of held) assert.equal((await c.request("ping")).ok, true, "the connections within the cap are served");
  // Another address has its own share, up to the total.
  const v6 = await TcpClient.open(rig.gw.ports.tcp, "::1").catch(() => undefined);
  if (v6) {
    const v6b = await TcpClient.open(rig.gw.ports.tcp, "::1");
    assert.equal((await v6b.request("ping")).ok, true);
    const v6c = await TcpClient.open(rig.gw.ports.tcp, "::1");
    assert.match((await v6c.inbox.take()).error.message, /holds its limit of 5 connections/);
    await Promise.all([v6.close(), v6b.close(), v6c.closed]);
  }
  await held[0].close();
  await until(async () => {
    const c = await rig.tcp();
    return (await c.request("ping")).ok === true;
  }, 3000, "a freed slot");
});

test("connection limits - a frame not finished within the frame timeout closes the connection with timeout; slow whole frames are fine", async () => {
  await using rig = await startRig({ overrides: { frameTimeoutMs: 400 } });
  const trickle = await rig.tcp();
  const steady = await rig.tcp();
  const started = performance.now();
  trickle.socket.write('{"id":1,"op":"pi');
  const trickling = setInterval(() => trickle.socket.writable && trickle.socket.write(" "), 50);
  // Every frame arrives in two halves 100 ms apart, for longer than the timeout.
  for (let i = 0; i < 8; i++) {
    steady.socket.write(`{"id":${i},`);
    await sleep(100);
    steady.socket.write('"op":"ping"}\n');
    assert.equal((await steady.reply(i)).ok, true);
  }
  const r = await trickle.inbox.take(undefined, 3000);
  clearInterval(trickling);
  assert.deepEqual([r.id, r.error.code], [null, "timeout"]);
  await trickle.closed;
  assert.ok(performance.now() - started < 2000);

  // WebSocket: a message whose first fragment came, and never its last, even with pongs in between.
  const ws = await rig.ws();
  ws.ws.send("{\"id\":1,", { fin: false });
  const ponging = setInterval(() => ws.ws.readyState === WebSocket.OPEN && ws.ws.pong(), 50);
  const w = await ws.inbox.take(undefined, 3000);
  clearInterval(ponging);
  assert.equal(w.error.code, "timeout");
  await ws.closed;
});

test("connection limits - a WebSocket that only answers the idle pings outlives the frame timeout", async () => {
  await using rig = await startRig({ overrides: { frameTimeoutMs: 200, idleTimeoutMs: 450 } }); // a ping every 150 ms
  const ws = await rig.ws();
  let pongs = 0;
  ws.ws.on("ping", () => pongs++);
  await sleep(1500);
  assert.ok(pongs >= 4, `${pongs} pings answered`);
  assert.equal(ws.ws.readyState, WebSocket.OPEN);
  assert.equal((await ws.request("ping")).ok, true);
});

/** Resident memory of a process, from /proc. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

test("connection limits - 300 connections each holding 1 MiB without a newline leave the gateway's RSS bounded", async () => {
  await using ns = await startNats({ jetstream: true });
  const nc = await connect({ servers: ns.url });
  await loadSigningKey(nc); // the key auth would publish, so the gateway starts alone
  const gw = spawn(process.execPath, ["--import", "tsx", "services/gateway/src/main.ts"], {
    cwd: repoRoot(),
    env: { ...process.env, NATS_URL: ns.url, COLMENA_HOST: "127.0.0.1", COLMENA_TCP_PORT: "0", COLMENA_HTTP_PORT: "0", COLMENA_LOG_LEVEL: "info", COLMENA_MAX_CONNECTIONS_PER_IP: process.env.CAP ?? "20", COLMENA_FRAME_TIMEOUT_MS: "20000" },
    stdio: ["ignore", "ignore", "pipe"], // the logger writes to stderr
  });
  const sockets: Socket[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      gw.stderr.on("data", (b) => {
        out += b;
        const m = /"ports":\{"tcp":(\d+)/.exec(out);
        if (m?.[1]) resolve(Number(m[1]));
      });
      gw.once("exit", (code) => reject(new Error(`gateway exited (${code}): ${out}`)));
    });
    await sleep(500);
    const before = rssOf(gw.pid!);
    const chunk = Buffer.alloc(1 << 20, "x");
    let peak = 0;
    for (let i = 0; i < 300; i++) {
      const s = netConnect({ host: "127.0.0.1", port });
      s.on("error", () => undefined);
      s.resume(); // reads (and drops) the refusal, so a refused socket sees its close
      s.write(chunk.subarray(0, chunk.length - 1));
      sockets.push(s);
      if (i % 25 === 0) peak = Math.max(peak, rssOf(gw.pid!) - before);
    }
    // Until every byte the gateway would take has been written to it.
    await until(() => sockets.every((s) => s.destroyed || s.writableLength === 0), 15_000, "the writes to drain");
    for (let i = 0; i < 10; i++) {
      peak = Math.max(peak, rssOf(gw.pid!) - before);
      await sleep(100);
    }
    if (process.env.GATEWAY_TEST_VERBOSE) console.log(`gateway RSS ${(before / 2 ** 20).toFixed(0)} MiB, peak growth ${(peak / 2 ** 20).toFixed(1)} MiB`);
    // 20 held frames of 1 MiB, and room for buffers and the GC; the 300 MiB of the attack would not fit.
    assert.ok(peak < 80 << 20, `the gateway grew by ${(peak / 2 ** 20).toFixed(1)} MiB`);
    await until(() => sockets.filter((s) => !s.closed).length <= 20, 5000, "the connections over the cap to be closed");
  } finally {
    for (const s of sockets) s.destroy();
    gw.kill("SIGKILL");
    await nc.close();
  }
});
