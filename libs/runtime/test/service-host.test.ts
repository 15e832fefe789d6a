import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { TimeoutError, connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { z } from "zod";
import { ColmenaError, defineOp, opSubject } from "@colmena/protocol";
import { JetStreamUnanswered, ServiceHost, maxPayloadOf, natsOutage, silentLogger } from "@colmena/runtime";
import { startNats } from "@colmena/testing";

const op = (name: string) => defineOp({ op: `hosttest.${name}`, service: "hosttest", access: "public", summary: "test", request: z.strictObject({ n: z.number().optional() }), reply: z.unknown() });

test("service host - a reply or an error too large for NATS becomes a small internal error, never a throw", async () => {
  await using ns = await startNats({ jetstream: false });
  const nc = await connect({ servers: ns.url });
  const escaped: unknown[] = [];
  const onEscape = (e: unknown) => escaped.push(e);
  process.on("unhandledRejection", onEscape);
  try {
    const max = maxPayloadOf(nc);
    const host = await ServiceHost.start({ nc, name: "hosttest", version: "0.0.1", log: silentLogger() });
    host
      .handle(op("big"), () => ({ pad: "x".repeat(max) }))
      // Headers the handler set count too: a reply that cannot carry them still answers.
      .handle(op("bigheaders"), (_d, ctx) => {
        ctx.subscribe("c".repeat(max));
        throw new ColmenaError("conflict", "no");
      });
    const ask = async (name: string) => {
      const m = await nc.request(opSubject(`hosttest.${name}`), "{}", { timeout: 5000 });
      return { code: m.headers?.get("Nats-Service-Error-Code"), body: m.json<{ code: string; message: string }>() };
    };
    const big = await ask("big");
    assert.equal(big.code, "500");
    assert.equal(big.body.code, "internal");
    assert.match(big.body.message, /the reply to hosttest\.big is \d+ bytes, over the \d+ a NATS message may carry/);
    const hdr = await ask("bigheaders");
    assert.equal(hdr.body.code, "internal");
    assert.match(hdr.body.message, /did not fit/);
    await host.stop();
    assert.deepEqual(escaped, []);
  } finally {
    process.off("unhandledRejection", onEscape);
    await nc.close();
  }
});

test("service host - a handler stopped by NATS or JetStream not answering is unavailable (try again), any other failure internal", async () => {
  await using ns = await startNats({ jetstream: true });
  const nc = await connect({ servers: ns.url });
  try {
    const host = await ServiceHost.start({ nc, name: "hosttest", version: "0.0.1", log: silentLogger() });
    host
      // A real request to a subject nobody serves, and a real JetStream call to a stream that does not exist yet answers 404 (final).
      .handle(op("noresponders"), async () => nc.request("hosttest.nobody.here", "", { timeout: 1000 }))
      .handle(op("timeout"), async () => { throw new TimeoutError(); })
      .handle(op("nostream"), async () => (await jetstreamManager(nc)).streams.info("HOSTTEST_MISSING"))
      // A publish no stream answers (a KV put while its stream is between leaders): nats.js says JetStreamNotEnabled, caused by no responders.
      .handle(op("jsunanswered"), async () => jetstream(nc).publish("hosttest.captured.by.nothing", "x", { timeout: 1000 }))
      .handle(op("bug"), () => { throw new TypeError("a bug"); });
    const ask = async (name: string) => (await nc.request(opSubject(`hosttest.${name}`), "{}", { timeout: 5000 })).json<{ code: string }>().code;
    assert.equal(await ask("noresponders"), "unavailable");
    assert.equal(await ask("timeout"), "unavailable");
    assert.equal(await ask("nostream"), "internal", "a JetStream refusal that is not 503 is no outage");
    assert.equal(await ask("jsunanswered"), "unavailable", "a JetStream publish nobody answered is an outage (chat's rejoin gave up on it as internal)");
    assert.equal(await ask("bug"), "internal");
    assert.equal(natsOutage(new JetStreamUnanswered("no JetStream answer in 5000 ms")), true);
    await host.stop();
  } finally {
    await nc.close();
  }
});

test("service host - the process guard logs an escaped rejection and exception, and the process goes on", async () => {
  const script = `
    import { installProcessGuard, createLogger } from "@colmena/runtime";
    installProcessGuard(createLogger({ service: "guard-test", level: "error" }));
    Promise.reject(new Error("escaped rejection"));
    setTimeout(() => { throw new Error("escaped exception"); }, 10);
    setTimeout(() => { console.log("STILL ALIVE"); process.exit(0); }, 200);
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (b) => (out += b));
  child.stderr.on("data", (b) => (out += b));
  const code = await new Promise((r) => child.on("exit", r));
  assert.equal(code, 0, out);
  assert.match(out, /escaped rejection/);
  assert.match(out, /escaped exception/);
  assert.match(out, /STILL ALIVE/);
});
