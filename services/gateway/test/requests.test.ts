import { test } from "node:test";
import assert from "node:assert/strict";
import { ClosedConnectionError, NoRespondersError, RequestError, TimeoutError, connect, headers } from "@nats-io/transport-node";
import { startNats } from "@colmena/testing";
import { Requester } from "../src/requests.ts";

/** How long a request took to fail, and with what. */
async function failure(p: Promise<unknown>): Promise<{ ms: number; err: unknown }> {
  const start = performance.now();
  try {
    await p;
  } catch (err) {
    return { ms: performance.now() - start, err };
  }
  assert.fail("the request should have failed");
}

test("requester - replies, headers and no responders", async () => {
  await using nats = await startNats();
  const nc = await connect({ servers: nats.url });
  try {
    nc.subscribe("t.echo", { callback: (_e, m) => void m.respond(`${m.string()}:${m.headers?.get("X-A") ?? "-"}`) });
    await nc.flush();
    const r = new Requester(nc);
    const h = headers();
    h.set("X-A", "b");
    const replies = await Promise.all([1, 2, 3].map((i) => r.request("t.echo", `m${i}`, i === 2 ? h : undefined, 2000)));
    assert.deepEqual(replies.map((m) => m.string()), ["m1:-", "m2:b", "m3:-"]);
    // Many at once: all but the first wait for the end of the turn and leave in one write.
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => r.request("t.echo", `n${i}`, i % 7 === 0 ? h : undefined, 2000)));
    assert.deepEqual(many.map((m) => m.string()), Array.from({ length: 50 }, (_, i) => `n${i}:${i % 7 === 0 ? "b" : "-"}`));
    const nobody = await failure(r.request("t.nobody", "x", undefined, 2000));
    assert.ok(nobody.err instanceof NoRespondersError, String(nobody.err));
    assert.ok(nobody.ms < 1000);
  } finally {
    await nc.close();
  }
});

test("requester - each request times out after its own timeout, whatever was sent before it", async () => {
  await using nats = await startNats();
  const nc = await connect({ servers: nats.url });
  try {
    nc.subscribe("t.silent", { callback: () => undefined });
    await nc.flush();
    const r = new Requester(nc);
    const long = failure(r.request("t.silent", "", undefined, 600));
    const short = failure(r.request("t.silent", "", undefined, 150));
    await new Promise((res) => setTimeout(res, 200));
    // Sent 200 ms after `long`, with the same timeout: shares its timer but must not expire with it.
    const later = failure(r.request("t.silent", "", undefined, 600));
    const [l, s, la] = await Promise.all([long, short, later]);
    for (const f of [l, s, la]) assert.ok(f.err instanceof TimeoutError, String(f.err));
    assert.ok(s.ms >= 145 && s.ms < 450, `short took ${s.ms}`);
    assert.ok(l.ms >= 595 && l.ms < 900, `long took ${l.ms}`);
    assert.ok(la.ms >= 595 && la.ms < 900, `later took ${la.ms}`);
  } finally {
    await nc.close();
  }
});

test("requester - pending requests fail when the connection closes, later ones at once", async () => {
  await using nats = await startNats();
  const nc = await connect({ servers: nats.url });
  nc.subscribe("t.silent", { callback: () => undefined });
  await nc.flush();
  const r = new Requester(nc);
  const pending = failure(r.request("t.silent", "", undefined, 30_000));
  await nc.close();
  const p = await pending;
  assert.ok(p.err instanceof RequestError && p.err.message === "connection closed", String(p.err));
  assert.ok(p.ms < 5000);
  const after = await failure(r.request("t.silent", "", undefined, 30_000));
  assert.ok(after.err instanceof ClosedConnectionError, String(after.err));
});
