/**
 * The HTTP bridge on a real nats-server and real sockets: a small HTTP server
 * bridges every request to a declared route (files.content, or notify.events
 * for a long-lived one), and serveHttpRoutes answers it with the test's
 * handler. Flow control, liveness, aborts and errors, without the gateway.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { connect as tcpConnect } from "node:net";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, httpRouteSubject, type HttpHandler, type HttpMethod } from "@colmena/protocol";
import { HttpBridgeClient, WINDOW_BYTES, connectNats, serveHttpRoutes, silentLogger, type HttpRoutesServer } from "@colmena/runtime";
import { startNats, waitUntil, type NatsServer } from "@colmena/testing";

const log = silentLogger();
const liveness = { keepaliveMs: 200, deadlineMs: 1000 };
let nats: NatsServer;
let gwNc: NatsConnection;
let bridge: HttpBridgeClient;
let http: Server;
let base: string;
const conns: NatsConnection[] = [];

/** Routes the test server bridges: `/events` to notify.events (long-lived), anything else to files.content. */
before(async () => {
  nats = await startNats({ jetstream: false });
  gwNc = await connectNats({ servers: nats.url, name: "bridge-gw", log });
  bridge = new HttpBridgeClient(gwNc, log, liveness);
  http = createServer((req, res) => {
    const [path, query = ""] = (req.url ?? "/").split("?");
    const events = path === "/events";
    void bridge.call({
      subject: events ? httpRouteSubject("notify", "events") : httpRouteSubject("files", "content"),
      start: { route: events ? "events" : "content", method: req.method as HttpMethod, path: path.slice(1), query, headers: {}, body: req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined },
      req,
      res,
      headers: { "X-Route": "yes" },
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

after(async () => {
  http.closeAllConnections();
  await new Promise((resolve) => http.close(resolve));
  bridge.close();
  for (const nc of [...conns, gwNc]) await nc.close().catch(() => undefined);
  await nats.stop();
});

async function serve(handlers: Record<string, HttpHandler>, service = "files", drainMs?: number): Promise<{ server: HttpRoutesServer; nc: NatsConnection }> {
  const nc = await connectNats({ servers: nats.url, name: `bridge-${service}`, log });
  conns.push(nc);
  const server = serveHttpRoutes(nc, { service, log, handlers, drainMs });
  await nc.flush();
  return { server, nc };
}

async function* repeat(chunk: Uint8Array, times: number, pulled?: { bytes: number }): AsyncIterable<Uint8Array> {
  for (let i = 0; i < times; i++) {
    if (pulled) pulled.bytes += chunk.length;
    yield chunk;
  }
}

test("http bridge - streams a request body to the handler and its answer back, headers both ways", async () => {
  const { server } = await serve({
    content: async (call) => {
      const h = createHash("sha256");
      let n = 0;
      for await (const c of call.body) {
        h.update(c);
        n += c.length;
      }
      return { status: 201, headers: { "Content-Type": "application/json", Connection: "x" }, body: JSON.stringify({ n, sha: h.digest("hex"), path: call.path, q: call.query.get("a") }) };
    },
  });
  try {
    const body = Buffer.alloc(5 * 1024 * 1024 + 17, 7);
    const r = await fetch(`${base}/some/path?a=b`, { method: "PUT", body });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get("x-route"), "yes");
    assert.deepEqual(await r.json(), { n: body.length, sha: createHash("sha256").update(body).digest("hex"), path: "some/path", q: "b" });
    // A streamed answer, many chunks long, arrives whole.
    const { server: s2 } = await serve({ content: async () => ({ status: 200, body: repeat(Buffer.alloc(100_000, 1), 50) }) });
    await server.stop();
    const got = Buffer.from(await (await fetch(`${base}/x`)).arrayBuffer());
    assert.equal(got.length, 5_000_000);
    await s2.stop();
  } finally {
    await server.stop();
  }
});

test("http bridge - no replica answers 503 unavailable at once", async () => {
  const t0 = Date.now();
  const r = await fetch(`${base}/nobody`);
  assert.equal(r.status, 503);
  assert.equal(((await r.json()) as { error: { code: string } }).error.code, "unavailable");
  assert.equal(r.headers.get("x-route"), "yes");
  assert.ok(Date.now() - t0 < liveness.deadlineMs, `took ${Date.now() - t0} ms`);
});

test("http bridge - a thrown ColmenaError answers its status; any other throw answers 500 internal and the replica goes on", async () => {
  let n = 0;
  const { server } = await serve({
    content: async () => {
      n++;
      if (n === 1) throw new ColmenaError("quota_exceeded", "over the quota");
      throw new TypeError("a bug");
    },
  });
  try {
    const a = await fetch(`${base}/a`);
    assert.equal(a.status, 507);
    assert.deepEqual(await a.json(), { error: { code: "quota_exceeded", message: "over the quota" } });
    const b = await fetch(`${base}/b`);
    assert.equal(b.status, 500);
    const e = ((await b.json()) as { error: { code: string; message: string } }).error;
    assert.equal(e.code, "internal");
    assert.match(e.message, /request /);
    assert.equal(server.inFlight(), 0);
  } finally {
    await server.stop();
  }
});

test("http bridge - a slow reader keeps what the replica pulls and holds bounded", async () => {
  const pulled = { bytes: 0 };
  const { server } = await serve({ content: async () => ({ status: 200, body: repeat(Buffer.alloc(64 * 1024, 2), 1024, pulled) }) });
  const sock = tcpConnect((http.address() as AddressInfo).port, "127.0.0.1");
  try {
    sock.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    // Read nothing: the socket fills, the gateway stops acknowledging, the replica stops pulling.
    sock.pause();
    await sleep(1500);
    const at = pulled.bytes;
    await sleep(500);
    assert.equal(pulled.bytes, at, "the handler is no longer pulled");
    // The kernel's socket buffers take some megabytes; the bridge adds at most its window.
    assert.ok(pulled.bytes < 24 * 1024 * 1024, `pulled ${pulled.bytes} of 64 MiB`);
    assert.ok(server.bufferedBytes() <= WINDOW_BYTES, `held ${server.bufferedBytes()}`);
  } finally {
    sock.destroy();
    await waitUntil("the call ends", () => server.inFlight() === 0, 5000);
    await server.stop();
  }
});

test("http bridge - a slow handler pauses the upload: the replica holds at most the window", async () => {
  let maxHeld = 0;
  let server!: HttpRoutesServer;
  ({ server } = await serve({
    content: async (call) => {
      let n = 0;
      for await (const c of call.body) {
        n += c.length;
        maxHeld = Math.max(maxHeld, server.bufferedBytes());
        await sleep(5);
      }
      return { status: 200, body: String(n) };
    },
  }));
  try {
    const body = Buffer.alloc(8 * 1024 * 1024, 3);
    const r = await fetch(`${base}/up`, { method: "PUT", body });
    assert.equal(await r.text(), String(body.length));
    assert.ok(maxHeld <= WINDOW_BYTES, `held ${maxHeld}`);
    assert.ok(maxHeld > 0);
  } finally {
    await server.stop();
  }
});

test("http bridge - a body whose last bytes wait for credit after the request ended still reaches its end", async () => {
  // The window fills before the handler reads: the gateway has read the body's last bytes (and its end,
  // so node destroys the finished request) and waits for credit to send them. Before the fix the pump
  // then saw a destroyed request and never sent END: the handler waited for ever, kept alive by PINGs.
  const { server } = await serve({
    content: async (call) => {
      await sleep(100);
      let n = 0;
      for await (const c of call.body) {
        n += c.length;
        await sleep(15);
      }
      return { status: 200, body: String(n) };
    },
  });
  try {
    for (let k = 1; k <= 8; k++) {
      const size = 2 * WINDOW_BYTES + k * 7_919;
      const r = await fetch(`${base}/up`, { method: "PUT", body: Buffer.alloc(size, 5), signal: AbortSignal.timeout(5000) });
      assert.equal(await r.text(), String(size));
    }
  } finally {
    await server.stop();
  }
});

test("http bridge - a client that goes away aborts the handler's signal and the call ends", async () => {
  let aborted = false;
  const { server } = await serve({
    content: async (call) => {
      call.signal.addEventListener("abort", () => (aborted = true));
      return { status: 200, body: repeat(Buffer.alloc(64 * 1024, 4), 100_000) };
    },
  });
  try {
    const ac = new AbortController();
    const r = await fetch(`${base}/abort`, { signal: ac.signal });
    const reader = r.body!.getReader();
    await reader.read();
    ac.abort();
    await waitUntil("the handler's signal aborted and the call ended", () => aborted && server.inFlight() === 0, 5000);
  } finally {
    await server.stop();
  }
});

test("http bridge - a replica that dies mid-response is noticed within the deadline: the response is cut", async () => {
  const { server, nc } = await serve({ content: async () => ({ status: 200, body: repeat(Buffer.alloc(1024, 5), 1) }) });
  // The first chunk goes out, then the replica falls silent (its connection gone, as with SIGKILL).
  const { nc: dying } = await serve({
    content: async () => ({
      status: 200,
      body: (async function* () {
        yield Buffer.alloc(1000, 6);
        await sleep(100);
        dying.close();
        await new Promise(() => undefined);
      })(),
    }),
  });
  await server.stop();
  await nc.close();
  const t0 = Date.now();
  const r = await fetch(`${base}/dies`);
  assert.equal(r.status, 200);
  await assert.rejects(r.arrayBuffer());
  const took = Date.now() - t0;
  assert.ok(took < liveness.deadlineMs + 1500, `took ${took} ms`);
});

test("http bridge - stop() ends long-lived responses cleanly and lets the others finish", async () => {
  const { server } = await serve(
    {
      events: async (call) => ({
        status: 200,
        headers: { "Content-Type": "text/event-stream" },
        body: (async function* () {
          yield ": hello\n\n";
          while (!call.signal.aborted) await sleep(50);
        })(),
      }),
    },
    "notify",
  );
  const { server: files } = await serve({ content: async () => ({ status: 200, body: (async function* () { await sleep(600); yield "done"; })() }) }, "files", 5000);
  const ev = await fetch(`${base}/events`);
  const slow = fetch(`${base}/slow`);
  await sleep(200);
  const reader = ev.body!.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /hello/);
  await Promise.all([server.stop(), files.stop()]);
  // The stream ended (not cut): the client sees its end and reconnects.
  for (;;) if ((await reader.read()).done) break;
  assert.equal(await (await slow).text(), "done");
});

test("http bridge - a handler for a route the service did not declare is refused at start", async () => {
  const nc = await connectNats({ servers: nats.url, name: "bridge-bad", log });
  conns.push(nc);
  assert.throws(() => serveHttpRoutes(nc, { service: "files", log, handlers: { nope: async () => ({ status: 200 }) } }), /no declared HTTP route nope/);
});
