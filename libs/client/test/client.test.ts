import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ColmenaClient, ColmenaError, type ClientStatus } from "@colmena/client";
import { startSystem, type System } from "../../../test/e2e/harness.ts";

let sys: System;
before(async () => {
  sys = await startSystem({ services: ["auth", "diag"] });
});
after(async () => {
  await sys?.stop();
});

/** Resolves when the client reports a status of `type` (bounded). */
function statusOf(client: ColmenaClient, type: ClientStatus["type"], timeoutMs = 15_000): Promise<ClientStatus> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${type} status in ${timeoutMs} ms`)); }, timeoutMs);
    const off = client.onStatus((s) => {
      if (s.type === type) { clearTimeout(timer); off(); resolve(s); }
    });
  });
}

test("client - concurrent requests are matched to their replies by id", async () => {
  const { client, userId } = await sys.user();
  // Later requests finish first, so replies arrive out of order.
  const n = 40;
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) => client.request<{ payload: { i: number }; user_id: string }>("diag.echo", { payload: { i }, delay_ms: (n - i) * 5 })),
  );
  replies.forEach((r, i) => {
    assert.equal(r.payload.i, i);
    assert.equal(r.user_id, userId);
  });
});

test("client - an error frame rejects with a ColmenaError carrying its code", async () => {
  const client = await sys.client();
  await assert.rejects(client.request("no.such.op"), (e: unknown) => ColmenaError.is(e, "unknown_op"));
  await assert.rejects(client.whoami(), (e: unknown) => ColmenaError.is(e, "unauthorized"));
  await assert.rejects(client.register("x", "short"), (e: unknown) => ColmenaError.is(e, "bad_request"));
});

test("client - MessagePack over WebSocket carries requests, replies and events", async () => {
  const { client, username } = await sys.user({ transport: "ws", codec: "msgpack" });
  assert.equal(client.codec, "msgpack");
  assert.equal((await client.whoami()).username, username);
  const echo = await client.request<{ payload: unknown }>("diag.echo", { payload: { text: "hola ñ 🐝", n: 2 ** 40, list: [1, null, true] } });
  assert.deepEqual(echo.payload, { text: "hola ñ 🐝", n: 2 ** 40, list: [1, null, true] });
  const next = client.events("diag.hello")[Symbol.asyncIterator]().next();
  await client.request("diag.push", { channel: "self", event: "diag.hello", data: { x: 1 } });
  const ev = await next;
  assert.deepEqual(ev.value?.data, { x: 1 });
});

test("client - events reach on() handlers and events() iterators, which end on close", async () => {
  const { client } = await sys.user();
  const seen: unknown[] = [];
  const handler = (d: unknown) => seen.push(d);
  client.on("diag.tick", handler);
  const it = client.events("diag.tick");
  await client.request("diag.push", { channel: "self", event: "diag.tick", data: { n: 1 } });
  const first = await it.next();
  assert.deepEqual(first.value?.data, { n: 1 });
  assert.deepEqual(seen, [{ n: 1 }]);
  client.off("diag.tick", handler);
  client.close();
  assert.equal((await it.next()).done, true);
  await assert.rejects(client.ping(), (e: unknown) => ColmenaError.is(e, "unavailable"));
});

test("client - after the gateway restarts it reconnects and logs in again", async () => {
  const { client, username } = await sys.user();
  const { client: wsClient } = await sys.user({ transport: "ws" });
  const back = Promise.all([statusOf(client, "reauthenticated"), statusOf(wsClient, "reauthenticated")]);
  await sys.restart("gateway");
  const [s] = await back;
  assert.deepEqual(s, { type: "reauthenticated", username });
  assert.equal((await client.whoami()).username, username);
  await wsClient.whoami();
  // The pushes for the user reach the new connection.
  const ev = client.events("diag.again")[Symbol.asyncIterator]().next();
  await client.request("diag.push", { channel: "self", event: "diag.again", data: {} });
  assert.equal((await ev).value?.event, "diag.again");
});

test("client - requests made while the gateway is down wait for the reconnect", async () => {
  const { client, username } = await sys.user();
  const down = statusOf(client, "disconnected");
  await sys.stopService("gateway");
  await down;
  assert.equal(client.connected, false);
  const pending = client.whoami();
  await sys.restart("gateway");
  assert.equal((await pending).username, username);
});

test("client - an expired access token is refreshed before re-authenticating", async () => {
  await using short = await startSystem({ services: ["auth"], env: { COLMENA_ACCESS_TTL_S: "1" } });
  const { client, username, accessToken, refreshToken } = await short.user();
  await new Promise((r) => setTimeout(r, 2_100));
  const back = statusOf(client, "reauthenticated");
  await short.restart("gateway");
  await back;
  assert.notEqual(client.session?.accessToken, accessToken);
  assert.notEqual(client.session?.refreshToken, refreshToken);
  assert.equal((await client.whoami()).username, username);
});

test("client - a request in flight when the connection drops is rejected with unavailable, not replayed", async () => {
  // A real socket server that reads requests, counts them and hangs up without answering.
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("data", (b) => {
      received.push(...b.toString().split("\n").filter(Boolean));
      s.destroy();
    });
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const client = await ColmenaClient.connect({ url: `tcp://127.0.0.1:${port}`, maxReconnectDelayMs: 200 });
  try {
    await assert.rejects(client.request("tasks.submit", { type: "uppercase", input: "x" }), (e: unknown) => ColmenaError.is(e, "unavailable"));
    await statusOf(client, "reconnected");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received.filter((l) => l.includes("tasks.submit")).length, 1);
  } finally {
    client.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});

test("client - a request with no reply in time is rejected with timeout", async () => {
  const { client } = await sys.user();
  await assert.rejects(client.request("diag.echo", { delay_ms: 2_000 }, { timeoutMs: 200 }), (e: unknown) => ColmenaError.is(e, "timeout"));
  assert.ok((await client.ping()).ts > 0);
});

test("client - connecting to a closed port rejects with unavailable", async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  await assert.rejects(ColmenaClient.connect({ url: `tcp://127.0.0.1:${port}` }), (e: unknown) => ColmenaError.is(e, "unavailable"));
});

test("client - tls:// connects with a private CA, reconnects and logs in again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "colmena-tls-"));
  try {
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    await using tlsSys = await startSystem({ services: ["auth"], env: { COLMENA_TLS_CERT: cert, COLMENA_TLS_KEY: key } });
    assert.match(tlsSys.gateway.tlsUrl ?? "", /^tls:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(cert);
    const { client, username } = await tlsSys.user({ transport: "tls", tls: { ca } });
    assert.equal((await client.whoami()).username, username);
    const back = statusOf(client, "reauthenticated");
    await tlsSys.restart("gateway");
    await back;
    assert.equal((await client.whoami()).username, username);
    // Without the CA the certificate is refused.
    await assert.rejects(tlsSys.client({ transport: "tls" }), (e: unknown) => ColmenaError.is(e, "unavailable"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("client - on() and events() type a registered event's data by its name; a misspelt name does not compile", async () => {
  const { client } = await sys.user();
  const progress = new Promise<number>((resolve) => client.on("task.progress", (data, frame) => {
    // `data.progress` is a number and `frame.event` the literal name: checked by tsc over this file.
    const p: number = data.progress;
    const name: "task.progress" = frame.event;
    if (name === "task.progress") resolve(p);
  }));
  const next = client.events("task.progress")[Symbol.asyncIterator]().next();
  await client.request("diag.push", { channel: "self", event: "task.progress", data: { task_id: "t_1", progress: 0.5 } });
  assert.equal(await progress, 0.5);
  assert.equal((await next).value?.data.task_id, "t_1");
  // Compile-time only: these must stay errors (tsc fails on an unused @ts-expect-error).
  if (Date.now() < 0) {
    // @ts-expect-error a registered family ("task") with an unregistered name
    client.on("task.dnoe", () => undefined);
    // @ts-expect-error task.failed has no `result`
    client.on("task.failed", (d) => d.result);
  }
});
