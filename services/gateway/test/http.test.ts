import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { Headers, findOp } from "@colmena/protocol";
import { ServiceHost, silentLogger } from "@colmena/runtime";
import { coreServices } from "@colmena/gateway";
import { startRig, until } from "./helpers.ts";

const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);

test("http - /healthz follows the NATS connection and /readyz waits for every core service", async () => {
  await using rig = await startRig();
  const port = rig.gw.ports.http;
  assert.equal((await get(port, "/healthz")).status, 200);
  const notReady = await get(port, "/readyz");
  assert.equal(notReady.status, 503);
  const body = (await notReady.json()) as { services: Record<string, boolean> };
  assert.ok(coreServices().includes("auth"));
  assert.ok(!coreServices().includes("diag") && !coreServices().includes("gateway"));
  assert.deepEqual(Object.keys(body.services).sort(), coreServices());

  // Stand-ins answer $SRV.PING for every core service: ready.
  const hosts = await Promise.all(coreServices().map((name) => ServiceHost.start({ nc: rig.nc, name, version: "0.0.0", log: silentLogger() })));
  await rig.nc.flush();
  try {
    const ready = await get(port, "/readyz");
    assert.equal(ready.status, 200, JSON.stringify(await ready.clone().json()));
    assert.equal(((await ready.json()) as { ready: boolean }).ready, true);
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
  }
  assert.equal((await get(port, "/readyz")).status, 503);

  // NATS gone: not healthy; back: healthy again.
  await rig.ns.kill("SIGKILL");
  await until(async () => (await get(port, "/healthz")).status === 503, 10_000, "healthz 503");
  await rig.ns.restart();
  await until(async () => (await get(port, "/healthz")).status === 200, 15_000, "healthz 200 again");
});

test("http - /metrics shows connections, frames and request latency in Prometheus text", async () => {
  await using rig = await startRig();
  const c = await rig.login("u-metrics", "m");
  await c.request("diag.echo", { payload: 1 });
  await c.request("nope");
  const r = await get(rig.gw.ports.http, "/metrics");
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /text\/plain/);
  const text = await r.text();
  assert.match(text, /colmena_gateway_connections\{transport="tcp"\} [1-9]/);
  assert.match(text, /colmena_gateway_frames_total\{op="diag.echo",outcome="ok"\} [1-9]/);
  assert.match(text, /colmena_gateway_frames_total\{op="-",outcome="unknown_op"\} [1-9]/);
  assert.match(text, /colmena_gateway_request_seconds_bucket\{le="[^"]+",op="diag.echo"\}/);
  assert.equal((await get(rig.gw.ports.http, "/nothing")).status, 404);
});

/** Writes `raw` to the HTTP port and reads until the gateway closes the connection. */
function rawHttp(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => s.end(raw));
    let got = "";
    s.setEncoding("utf8").on("data", (d) => (got += d)).on("close", () => resolve(got)).on("error", reject);
  });
}

test("http - a request Node cannot parse gets the protocol's JSON error and a closed connection, not an empty reply", async () => {
  await using rig = await startRig();
  const port = rig.gw.ports.http;
  const huge = await rawHttp(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nRange: ${"a".repeat(20_000)}\r\n\r\n`);
  assert.match(huge, /^HTTP\/1\.1 431 /);
  assert.match(huge, /\r\nConnection: close\r\n/i);
  assert.equal(JSON.parse(huge.slice(huge.indexOf("\r\n\r\n") + 4)).error.code, "frame_too_large");
  const garbage = await rawHttp(port, "NOT A REQUEST\r\n\r\n");
  assert.match(garbage, /^HTTP\/1\.1 400 /);
  assert.equal(JSON.parse(garbage.slice(garbage.indexOf("\r\n\r\n") + 4)).error.code, "bad_request");
  assert.equal((await get(port, "/healthz")).status, 200, "and the gateway goes on");
});

test("legacy - task frames need a login unless anonymous is allowed, and are checked before they go out", async () => {
  await using rig = await startRig();
  const c = await rig.tcp();
  c.sendRaw('{"tipo":"uppercase","contenido":"hola mundo"}');
  assert.deepEqual(await c.inbox.take(), { estado: "error", mensaje: "login required" });
  c.sendRaw('{"tipo":{"x":1},"contenido":"hola"}');
  assert.equal((await c.inbox.take()).estado, "error");
  c.sendRaw('{"tipo":"uppercase"}');
  assert.match((await c.inbox.take()).mensaje, /contenido/);
  // Over WebSocket a legacy frame is just a frame without op.
  const w = await rig.ws();
  w.sendRaw('{"tipo":"uppercase","contenido":"hola"}');
  assert.equal((await w.inbox.take()).error.code, "bad_frame");
});

test("legacy - an anonymous task frame becomes tasks.submit with wait and comes back in the original shape", async (t) => {
  const def = findOp("tasks.submit");
  if (!def) return t.skip("the tasks ops are not in the registry");
  await using rig = await startRig({ overrides: { legacyAnonymous: true, requestTimeoutMs: 2000 } });
  const c = await rig.tcp();
  c.sendRaw('{"tipo":"uppercase","contenido":"hola"}');
  const none = await c.inbox.take();
  assert.equal(none.estado, "error", "no tasks instance: an error in the legacy shape");

  // A stand-in tasks service shows what the gateway sends and how it reshapes the reply.
  const seen: { data: unknown; user?: string; username?: string }[] = [];
  const tasks = await ServiceHost.start({ nc: rig.nc, name: "tasks", version: "0.0.0", log: silentLogger() });
  try {
    tasks.handle(def, (data: unknown, ctx) => {
      seen.push({ data, user: ctx.headers?.get(Headers.user), username: ctx.headers?.get(Headers.username) });
      const d = data as { input: string };
      return { task_id: "t_" + "0".repeat(32), status: "done", result: String(d.input).toUpperCase(), worker: "w-1", attempts: 1 } as never;
    });
    await rig.nc.flush();
    c.sendRaw('{"tipo":"uppercase","contenido":"hola mundo","tarea_id":"mine-1"}');
    assert.deepEqual(await c.inbox.take(), { estado: "ok", resultado: "HOLA MUNDO", tarea_id: "mine-1", worker: "w-1" });
    c.sendRaw('{"tipo":1,"contenido":"abc"}');
    assert.deepEqual(await c.inbox.take(), { estado: "ok", resultado: "ABC", tarea_id: "t_" + "0".repeat(32), worker: "w-1" });
    assert.deepEqual(seen[0].data, { type: "uppercase", input: "hola mundo", wait: true, idempotency_key: "mine-1" });
    assert.equal(seen[0].username, "anonymous");
    assert.match(seen[0].user ?? "", /^anon-gw-[0-9a-f]+-[0-9a-z]+$/, "a principal of this connection alone");
    assert.equal(seen[1].user, seen[0].user, "one connection is one principal");
    assert.deepEqual((seen[1].data as { type: unknown }).type, 1);
  } finally {
    await tasks.stop();
  }
});
