/**
 * Valid-sized input gets the right code (issue 14, item 7): `unavailable`
 * means the service did not answer, so a frame within the frame limit that
 * cannot reach its service as it is answers `bad_request` (or goes through).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { encode as msgpackEncode } from "@msgpack/msgpack";
import { MAX_DATA_DEPTH } from "@colmena/protocol";
import { maxPayloadOf } from "@colmena/runtime";
import { startRig } from "./helpers.ts";

test("payload limits - a frame of exactly COLMENA_MAX_FRAME_BYTES goes through or is bad_request, never unavailable", async () => {
  await using rig = await startRig();
  const limit = rig.gw.config.maxFrameBytes;
  for (const c of [await rig.login("u-exact"), await rig.ws(undefined, { token: await rig.token("u-exact") })]) {
    const base = JSON.stringify({ id: 1, op: "diag.echo", data: { payload: "" } });
    c.sendRaw(JSON.stringify({ id: 1, op: "diag.echo", data: { payload: "x".repeat(limit - base.length) } }));
    const r = await c.reply(1);
    assert.ok(r.ok || r.error.code === "bad_request", JSON.stringify(r).slice(0, 300));
    assert.equal((await c.request("ping")).ok, true, "the connection stays open");
  }
});

test("payload limits - a MessagePack frame travels as MessagePack, so it does not grow as JSON; one past max_payload with the headers is bad_request", async () => {
  // nats-server's own 1 MiB default (a server Colmena did not configure).
  await using rig = await startRig({ natsMaxPayload: 1 << 20 });
  const max = maxPayloadOf(rig.nc);
  const w = await rig.ws(undefined, { token: await rig.token("u-mp") });
  // Control characters take 1 byte in MessagePack and 6 as JSON escapes: as JSON this would be over max_payload.
  const payload = "\u0001".repeat(Math.ceil(max / 5));
  const frame = msgpackEncode({ id: 7, op: "diag.echo", data: { payload } });
  assert.ok(frame.length < rig.gw.config.maxFrameBytes);
  w.sendRaw(frame);
  const r = await w.reply(7);
  assert.equal(r.ok, true, JSON.stringify(r).slice(0, 300));
  assert.equal((r.data as { payload: string }).payload, payload);
  // A frame of exactly the frame limit (1 MiB) is past max_payload once the gateway's headers are added.
  const base = msgpackEncode({ id: 8, op: "diag.echo", data: { payload: "" } }).length + 4;
  const full = msgpackEncode({ id: 8, op: "diag.echo", data: { payload: "x".repeat(rig.gw.config.maxFrameBytes - base) } });
  assert.ok(full.length <= rig.gw.config.maxFrameBytes && full.length > max - 100);
  w.sendRaw(full);
  const big = await w.reply(8);
  assert.equal(big.error?.code, "bad_request", JSON.stringify(big).slice(0, 300));
  assert.match(big.error.message, /too large once encoded for the service/);
});

test("payload limits - data nested 5,000 deep is bad_request with its id, as JSON and as MessagePack", async () => {
  await using rig = await startRig();
  const t = await rig.login("u-deep");
  t.sendRaw(`{"id":3,"op":"diag.echo","data":{"payload":${"[".repeat(5000)}${"]".repeat(5000)}}}`);
  const r = await t.reply(3);
  assert.equal(r.error?.code, "bad_request", JSON.stringify(r));
  assert.match(r.error.message, new RegExp(`deeper than ${MAX_DATA_DEPTH} levels`));
  const w = await rig.ws(undefined, { token: await rig.token("u-deep") });
  // Built by hand: a MessagePack encoder recurses too. {id: 4, op: "diag.echo", data: {payload: [[[...]]]}}
  const head = msgpackEncode({ id: 4, op: "diag.echo", data: { payload: 0 } });
  const deep = new Uint8Array(head.length - 1 + 5000 + 1);
  deep.set(head.subarray(0, head.length - 1));
  deep.fill(0x91, head.length - 1, head.length - 1 + 5000); // fixarray of one element, 5,000 times
  deep[deep.length - 1] = 0x00;
  w.sendRaw(deep);
  const m = await w.reply(4);
  assert.equal(m.error?.code, "bad_request", JSON.stringify(m));
  assert.equal((await w.request("ping")).ok, true);
});
