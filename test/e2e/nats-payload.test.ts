/**
 * NATS's max_payload is set in every config Colmena writes so that a frame
 * under COLMENA_MAX_FRAME_BYTES fits in one NATS message with its headers,
 * both ways (nats-server's own default, 1 MB, refused a 1 MiB frame).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_MAX_FRAME_BYTES } from "@colmena/runtime";
import { startSystem, type System } from "./harness.ts";

let sys: System | undefined;
after(async () => sys?.stop());

test("nats payload - a request with data just under the frame limit reaches the service and its echo comes back", async () => {
  sys = await startSystem({ services: ["auth", "diag"] });
  const { client } = await sys.user();
  // The frame around the payload (id, op, field names, quotes) takes under 64 bytes.
  const payload = "x".repeat(DEFAULT_MAX_FRAME_BYTES - 64);
  const ws = (await sys.user({ transport: "ws", codec: "msgpack" })).client;
  for (const [name, c] of [["tcp json", client], ["ws msgpack", ws]] as const) {
    const r = await c.request<{ payload: string }>("diag.echo", { payload }, { timeoutMs: 30_000 });
    assert.equal(r.payload.length, payload.length, name);
  }
});
