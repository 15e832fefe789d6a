/**
 * What each NATS user may NOT do, on the local runner's own nats-server (its
 * generated credentials and permissions) with the runner's services each on
 * its own user: the attacks of issue 14 item 2, made from 127.0.0.1:4222
 * with and without the runner's credentials.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { ColmenaClient } from "@colmena/client";
import { ALL_CONN_LIFECYCLE, BUCKETS, Headers, connLifecycleSubject, eventSubject, opSubject, streamName } from "@colmena/protocol";
import { connectNats, natsUsers, opServices, silentLogger } from "@colmena/runtime";
import { endpointUrls, services, startLocalNats, startServices, type LocalNats, type StartedServices } from "@colmena/cli";
import { uniqueName, waitUntil } from "@colmena/testing";
import { natsViolations } from "./nats-log.ts";

const log = silentLogger();
let home: string;
let nats: LocalNats;
let system: StartedServices;
let tcpUrl: string;
const conns: NatsConnection[] = [];

const as = async (user: string, name = `attacker-${user}`) => {
  const nc = await connectNats({ servers: nats.url, name, log, user, pass: nats.credentials[user] });
  conns.push(nc);
  return nc;
};

/** A request the server refuses to let this user publish. */
async function publishDenied(nc: NatsConnection, subject: string, h?: ReturnType<typeof headers>) {
  await assert.rejects(nc.request(subject, JSON.stringify({}), { timeout: 3_000, headers: h }), (err: Error) => {
    assert.match(err.message, /Permissions Violation for Publish/, subject);
    return true;
  });
}

/** A subscription the server refuses: it ends with a permission error. */
async function subscribeDenied(nc: NatsConnection, subject: string) {
  const sub = nc.subscribe(subject);
  const end = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r("still open"), 3_000))]);
  assert.ok(end instanceof Error && end.name === "PermissionViolationError", `subscribing to ${subject}: ${String(end)}`);
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), "colmena-natsperm-"));
  nats = await startLocalNats({ home, port: 0, monitorPort: 0, sync: null, log: () => {} });
  const env = { COLMENA_DATA_DIR: join(home, "data"), COLMENA_HOST: "127.0.0.1", COLMENA_TCP_PORT: "0", COLMENA_TLS_PORT: "0", COLMENA_HTTP_PORT: "0", COLMENA_SCRYPT_N: "1024", COLMENA_FILES_KEY: "ab".repeat(32) };
  // As `colmena up` does: every service on its own connection as its own user.
  system = await startServices(services, { connect: (s) => as(s, `colmena-${s}`), log, env });
  tcpUrl = endpointUrls({ host: "127.0.0.1", ports: system.gatewayPorts! }).tcp;
});

after(async () => {
  await system?.stop();
  for (const nc of conns) await nc.close().catch(() => undefined);
  await nats?.stop();
  rmSync(home, { recursive: true, force: true });
});

test("nats permissions - the runner's nats-server refuses anonymous and wrong logins; its credentials and config are private (0600)", async () => {
  assert.equal(statSync(nats.credentialsFile).mode & 0o777, 0o600);
  assert.equal(statSync(join(home, "nats", "nats.conf")).mode & 0o777, 0o600);
  assert.deepEqual(Object.keys(nats.credentials).sort(), natsUsers().map((u) => u.user).sort());
  await assert.rejects(connect({ servers: nats.url, reconnect: false }), /Authorization Violation/i);
  await assert.rejects(connect({ servers: nats.url, reconnect: false, user: "tasks", pass: "guess" }), /Authorization Violation/i);
});

test("nats permissions - the gateway cannot read the private signing key, nor write any stream", async () => {
  const gw = await as("gateway");
  // What it needs: the public keys.
  const keys = await new Kvm(gw).open(BUCKETS.authKeys.name);
  const kids: string[] = [];
  for await (const k of await keys.keys("signing.public.>")) kids.push(k);
  assert.ok(kids.length >= 1, "the public key is readable");
  assert.equal(await keys.get("signing.private"), null, "no private key beside the public ones");
  await assert.rejects(async () => (await new Kvm(gw).open(BUCKETS.authPrivate.name)).get("signing.private"), /permission/i);
  await publishDenied(gw, `$JS.API.DIRECT.GET.KV_${BUCKETS.authPrivate.name}.$KV.${BUCKETS.authPrivate.name}.signing.private`);
  await publishDenied(gw, eventSubject("tasks", "task", "forged"));
  await publishDenied(gw, `$JS.API.STREAM.UPDATE.${streamName("tasks")}`);
  await publishDenied(gw, `$JS.API.STREAM.INFO.${streamName("auth")}`);
});

test("nats permissions - no service may send another's (or its own) op requests with a forged Colmena-User", async () => {
  const victim = await ColmenaClient.connect({ url: tcpUrl, requestTimeoutMs: 15_000 });
  try {
    const name = uniqueName("victim");
    await victim.register(name, "victim-password");
    const { user_id } = await victim.login(name, "victim-password");
    const { task_id } = await victim.request<{ task_id: string }>("tasks.submit", { type: "sleep", input: 2 });
    const forged = headers();
    forged.set(Headers.user, user_id);
    for (const service of opServices()) {
      const nc = await as(service);
      await publishDenied(nc, opSubject("tasks.cancel"), forged);
      await publishDenied(nc, opSubject("auth.logout"), forged);
      // Nor forge what gateways announce.
      await publishDenied(nc, connLifecycleSubject("opened", "forged-gateway"));
    }
    await waitUntil("the victim's task done, not cancelled", async () => (await victim.request<{ status: string }>("tasks.get", { task_id })).status === "done", 15_000);
  } finally {
    victim.close();
  }
});

test("nats permissions - a service cannot read auth's stream, its requests or anyone's replies", async () => {
  const tasks = await as("tasks");
  const jsm = await jetstreamManager(tasks);
  await assert.rejects(jsm.streams.getMessage(streamName("auth"), { last_by_subj: eventSubject("auth", "user", "x") }), /permission/i);
  await publishDenied(tasks, `$JS.API.DIRECT.GET.${streamName("auth")}`);
  await publishDenied(tasks, `$JS.API.CONSUMER.CREATE.${streamName("auth")}`);
  await subscribeDenied(tasks, "colmena.auth.>");
  await subscribeDenied(tasks, opSubject("auth.login"));
  await subscribeDenied(tasks, "_INBOX.>");
  await subscribeDenied(tasks, "_INBOX_gateway.>");
  await subscribeDenied(tasks, "_INBOX_auth.>");
  await subscribeDenied(tasks, "auth.>");
  const auth = await as("auth");
  await subscribeDenied(auth, "colmena.tasks.>");
  await publishDenied(auth, `$JS.API.STREAM.MSG.GET.${streamName("tasks")}`);
  await publishDenied(auth, `$JS.API.STREAM.UPDATE.${streamName("tasks")}`);
});

test("nats permissions - a service may follow the gateways' connection announcements", async () => {
  const diag = await as("diag");
  const seen: string[] = [];
  const sub = diag.subscribe(ALL_CONN_LIFECYCLE, { callback: (_err, m) => void seen.push(m.json<{ username: string }>().username) });
  await diag.flush();
  const client = await ColmenaClient.connect({ url: tcpUrl, requestTimeoutMs: 15_000 });
  try {
    const name = uniqueName("announced");
    await client.register(name, "announced-password");
    await client.login(name, "announced-password");
    await waitUntil("the opened announcement", () => seen.includes(name), 10_000);
    sub.unsubscribe();
  } finally {
    client.close();
  }
});

test("nats permissions - the services themselves, each as its own user, meet no refusal", () => {
  assert.deepEqual(natsViolations(join(home, "nats", "nats.log"), "nats.js:colmena-"), []);
});
