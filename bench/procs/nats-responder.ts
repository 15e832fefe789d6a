/**
 * The raw-NATS baseline's responder process: answers `bench.echo` requests
 * with the same reply diag.echo gives ({payload, user_id, ts}), parsing and
 * encoding JSON like a service would, but with no gateway, no ServiceHost and
 * no validation in between. Started by bench/gateway.ts.
 */
import { connect } from "@nats-io/transport-node";
import { serveParent } from "../lib/child.ts";

export const ECHO_SUBJECT = "bench.echo";

const nc = await connect({ servers: process.env.BENCH_NATS_URL!, name: "bench-responder" });
nc.subscribe(ECHO_SUBJECT, {
  queue: "bench",
  callback: (err, msg) => {
    if (err) return;
    const req = msg.json<{ payload?: unknown }>();
    msg.respond(JSON.stringify({ payload: req.payload ?? null, user_id: "raw", ts: Date.now() }));
  },
});
await nc.flush();

serveParent({ subject: ECHO_SUBJECT }, {
  stop: async () => {
    await nc.drain();
  },
});
