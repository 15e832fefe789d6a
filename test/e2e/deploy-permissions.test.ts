/**
 * The NATS users of deploy/nats/accounts.conf (compose and Kubernetes,
 * generated from the registries by libs/runtime/src/nats-permissions.ts) on
 * the nats-server version Colmena installs: each service as its own user, the
 * gateway as `gateway`, a client doing what clients do (register, log in,
 * tasks with wait, delay and events, diag's channels), and not one permission
 * violation in the server's log. nats-server 2.14+ can ack and flow-control
 * JetStream deliveries and answer JetStream API requests on new subjects (the
 * `js_ack_fc_v2` and `js_api_reply_v2` feature flags, opt-in in 2.15.1,
 * expected to become the default): the file is checked with them off and on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaClient } from "@colmena/client";
import { connectNats, ensureNatsServer, launchNats, natsConfig, natsUsers, passwordVariable, repoRoot, silentLogger } from "@colmena/runtime";
import { startAuth } from "@colmena/auth";
import { startDiag } from "@colmena/diag";
import { startGateway } from "@colmena/gateway";
import { startTasks } from "@colmena/tasks";
import { startFiles } from "@colmena/files";
import { startChat } from "@colmena/chat";
import { waitUntil } from "@colmena/testing";
import { natsViolations } from "./nats-log.ts";

/** A password per generated user, as compose and Kubernetes pass them (`<USER>_PASSWORD`). */
const PASSWORDS = Object.fromEntries(natsUsers().map((u) => [u.user, `${u.user}-secret`]));

/** accounts.conf with its password variables filled in (compose passes them as environment). */
function accounts(): string {
  let text = readFileSync(join(repoRoot(), "deploy/nats/accounts.conf"), "utf8");
  for (const [user, value] of Object.entries(PASSWORDS)) text = text.replaceAll(`$${passwordVariable(user)}`, JSON.stringify(value));
  return text;
}

for (const flags of ["", "feature_flags { js_ack_fc_v2: true, js_api_reply_v2: true }\n"])
test(`deploy permissions - the system runs under accounts.conf's users with no permission violation${flags ? " (v2 ack and API reply subjects)" : ""}`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "colmena-perms-"));
  const conf = join(dir, "nats.conf");
  const logFile = join(dir, "nats.log");
  writeFileSync(conf, natsConfig({ serverName: "perms", port: -1, monitorPort: -1, storeDir: join(dir, "js") }) + flags + accounts());
  const nats = await launchNats({ bin: ensureNatsServer(), config: conf, portsDir: join(dir, "ports"), logFile });
  const conns: NatsConnection[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    for (const nc of conns) await nc.close().catch(() => undefined);
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const log = silentLogger();
  const as = async (user: string) => {
    const nc = await connectNats({ servers: nats.url, name: user, log, user, pass: PASSWORDS[user] });
    conns.push(nc);
    return nc;
  };
  const env = { COLMENA_SCRYPT_N: "1024", COLMENA_DATA_DIR: join(dir, "data"), COLMENA_HOST: "127.0.0.1", COLMENA_TCP_PORT: "0", COLMENA_TLS_PORT: "0", COLMENA_HTTP_PORT: "0", COLMENA_FILES_KEY: "ab".repeat(32) };
  const auth = await startAuth({ nc: await as("auth"), log, env });
  stops.push(() => auth.stop());
  const tasks = await startTasks({ nc: await as("tasks"), log, env, role: "all" });
  stops.push(() => tasks.stop());
  const files = await startFiles({ nc: await as("files"), log, env });
  stops.push(() => files.stop());
  const diag = await startDiag({ nc: await as("diag"), log });
  stops.push(() => diag.stop());
  const chat = await startChat({ nc: await as("chat"), log, env });
  stops.push(() => chat.stop());
  const gateway = await startGateway({ nc: await as("gateway"), log, env });
  stops.push(() => gateway.stop());

  const client = await ColmenaClient.connect({ url: `tcp://127.0.0.1:${gateway.ports.tcp}`, requestTimeoutMs: 15_000 });
  stops.push(async () => client.close());
  await client.register("perms-user", "perms-password");
  await client.login("perms-user", "perms-password");
  assert.equal((await client.whoami()).username, "perms-user");
  const events: string[] = [];
  client.on("task.done", () => events.push("task.done"));
  const done = await client.request<{ status: string; result: unknown }>("tasks.submit", { type: "uppercase", input: "hola", wait: true });
  assert.deepEqual([done.status, done.result], ["done", "HOLA"]);
  const later = await client.request<{ task_id: string }>("tasks.submit", { type: "uppercase", input: "luego", delay_ms: 300 });
  await waitUntil("the delayed task done", async () => (await client.request<{ status: string }>("tasks.get", { task_id: later.task_id })).status === "done", 15_000);
  assert.equal((await client.request<{ tasks: unknown[] }>("tasks.list", {})).tasks.length, 2);
  await waitUntil("both task.done events", () => events.length >= 2, 5_000);
  await client.request("diag.subscribe", { channel: "diag.perms" });
  const pushed = new Promise((r) => client.on("perms.hi", r));
  await client.request("diag.push", { channel: "diag.perms", event: "perms.hi", data: {} });
  await pushed;
  // files: its stream, its uploads bucket and its object store, as its own user.
  await client.request("files.put", { path: "perms/a", content: Buffer.from("hola").toString("base64") });
  const up = await client.request<{ upload_id: string }>("files.upload.begin", { path: "perms/b", size: 2 });
  await client.request("files.upload.chunk", { upload_id: up.upload_id, offset: 0, data: Buffer.from("hi").toString("base64") });
  await client.request("files.upload.commit", { upload_id: up.upload_id });
  const got = await client.request<{ content: string }>("files.get", { path: "perms/b" });
  assert.equal(Buffer.from(got.content, "base64").toString(), "hi");
  assert.deepEqual((await client.request<{ online: string[] }>("chat.join", { room: "lobby" })).online, ["perms-user"]);
  const sent = await client.request<{ seq: number }>("chat.send", { room: "lobby", body: "hola", client_msg_id: "p-1" });
  await client.request("chat.receipt", { room: "lobby", seq: sent.seq, kind: "read" });
  await client.request("chat.typing", { room: "lobby" });
  await client.request("chat.keys.publish", { key_id: "k", public_key: "cA==" });
  assert.equal((await client.request<{ messages: unknown[] }>("chat.history", { room: "lobby" })).messages.length, 1);
  await client.request("chat.leave", { room: "lobby" });
  await client.logout();

  assert.deepEqual(natsViolations(logFile), []);
});
