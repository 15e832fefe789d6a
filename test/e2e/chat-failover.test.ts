/** @test-exclusive (scripts/run-tests.mjs: runs alone, after the others)
 * Chat through real process deaths: a chat replica process SIGKILLed in a
 * burst of sends, a gateway process SIGKILLed in a burst (its members come
 * back through the SDK's resume), and a node of a 3-node NATS cluster
 * SIGKILLed with the CHAT stream at 3 replicas. In each, every acknowledged
 * message is in history and reaches every member exactly once, in order.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as connectRaw, type NatsConnection } from "@nats-io/transport-node";
import { ColmenaClient } from "@colmena/client";
import { CHAT_STREAM } from "@colmena/chat";
import { services as runnerServices, startServices } from "@colmena/cli";
import { connectNats, silentLogger } from "@colmena/runtime";
import { freePort, startNatsCluster, uniqueName, waitUntil } from "@colmena/testing";
import { startSystem } from "./harness.ts";
import { killAll, spawnService, type ServiceProcess } from "./processes.ts";

type Msg = { room: string; seq: number; from: string; body?: string };
const log = silentLogger();
const room = () => uniqueName("r").toLowerCase().replace(/[^a-z0-9_-]/g, "");

/** A service's main.ts as a process of its own, up once it says it started. */
const processOf = (service: string, env: NodeJS.ProcessEnv): Promise<ServiceProcess> =>
  spawnService({ name: service, command: [join("services", service, "src", "main.ts")], env: { ...env, COLMENA_LOG_LEVEL: "info" }, wait: { logged: ["process started", "gateway ready"] } });
const killed = (p: ServiceProcess) => killAll([p]);

/** What a member got: the messages of a room, and why a resume failed, if one did (a missing message's likely cause). */
type Got = Msg[] & { resumeFailures: string[] };

/** Everything `c` is told about room `r`, in arrival order (after the SDK's repeat drop). */
function messagesOf(c: ColmenaClient, r: string): Got {
  const got = Object.assign([] as Msg[], { resumeFailures: [] as string[] });
  c.on("chat.message", (d) => { if ((d as Msg).room === r) got.push(d as Msg); });
  c.onStatus((s) => { if (s.type === "resume_failed") got.resumeFailures.push(String(s.error)); });
  return got;
}

/** `n` sends from `from` to `r` by 4 concurrent senders, each pausing `paceMs` after a send; calls `at(i)` before send i; the acknowledged seqs. */
async function burst(from: ColmenaClient, r: string, n: number, at: (i: number) => void, paceMs = 0): Promise<number[]> {
  const acked: number[] = [];
  let next = 0;
  const sender = async () => {
    while (next < n) {
      const i = next++;
      at(i);
      try {
        acked.push((await from.request<{ seq: number }>("chat.send", { room: r, body: `burst ${i}`, client_msg_id: `m${i}` })).seq);
      } catch {
        // unacknowledged: may or may not be stored
      }
      if (paceMs > 0) await new Promise((res) => setTimeout(res, paceMs));
    }
  };
  await Promise.all([sender(), sender(), sender(), sender()]);
  return acked.sort((a, b) => a - b);
}

/** Every acknowledged seq reached each member once, in ascending order, and is in history. */
async function assertDelivered(acked: number[], members: [string, Got][], history: ColmenaClient, r: string): Promise<void> {
  for (const [name, got] of members) {
    await waitUntil(`${name} got every acknowledged message`, () => acked.every((s) => got.some((m) => m.seq === s)), 60_000)
      .catch((e) => {
        const failures = got.resumeFailures.length ? `; resumes failed: ${got.resumeFailures.join("; ")}` : "; no resume failed";
        throw new Error(`${(e as Error).message}: missing ${acked.filter((s) => !got.some((m) => m.seq === s)).slice(0, 10)}${failures}`);
      });
    const seqs = got.map((m) => m.seq);
    assert.equal(new Set(seqs).size, seqs.length, `${name} got no message twice`);
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), `${name} got them in seq order`);
  }
  const stored = new Set<number>();
  for (let after = 0; ;) {
    const h = await history.request<{ messages: Msg[]; has_more: boolean }>("chat.history", { room: r, after_seq: after, limit: 200 });
    for (const m of h.messages) stored.add(m.seq);
    if (!h.has_more || h.messages.length === 0) break;
    after = h.messages.at(-1)!.seq;
  }
  assert.deepEqual(acked.filter((s) => !stored.has(s)), [], "every acknowledged message is in history");
}

/** The settings of the cluster tests' services: in-process, R3 streams, a short push ack_wait. */
const clusterEnv = (dataDir: string): NodeJS.ProcessEnv => ({ ...process.env, COLMENA_HOST: "127.0.0.1", COLMENA_TCP_PORT: "0", COLMENA_TLS_PORT: "0", COLMENA_HTTP_PORT: "0",
  COLMENA_DATA_DIR: dataDir, COLMENA_SCRYPT_N: "1024", COLMENA_INSTANCE: uniqueName("cl-"), COLMENA_STREAM_REPLICAS: "3", COLMENA_CHAT_PUSH_ACK_WAIT_MS: "1000" });

/** A registered, logged-in SDK client on the gateway at `port`, kept in `clients` to be closed. */
async function clusterUser(clients: ColmenaClient[], prefix: string, port: number): Promise<ColmenaClient> {
  const c = await ColmenaClient.connect({ url: `tcp://127.0.0.1:${port}`, requestTimeoutMs: 20_000 });
  clients.push(c);
  const name = uniqueName(prefix);
  await c.register(name, "cluster-pw");
  await c.login(name, "cluster-pw");
  return c;
}

/**
 * `rooms` rooms of ana and bob, a burst of `n` sends from ana into each at once, with `kill()` at send `at` of
 * the first; returns once the kill is done and bob's gateway has told bob `session.resync` (its NATS
 * connection dropped). Several busy rooms, paced to go on after the gateway is back: the live messages of
 * one must not move bob past its gap while the SDK rejoins another (or waits to retry that join).
 */
async function burstThroughNodeDeath(ana: ColmenaClient, bob: ColmenaClient, n: number, at: number, kill: () => Promise<unknown>, { rooms = 1, paceMs = 0 } = {}): Promise<{ r: string; acked: number[]; toBob: Got }[]> {
  const made = [] as { r: string; toBob: Got }[];
  for (let i = 0; i < rooms; i++) {
    const r = room();
    await ana.request("chat.create", { room: r });
    for (const c of [ana, bob]) await c.request("chat.join", { room: r });
    made.push({ r, toBob: messagesOf(bob, r) });
  }
  let resyncs = 0;
  bob.on("session.resync", () => resyncs++);
  let death: Promise<unknown> | undefined;
  const bursts = await Promise.all(made.map(({ r }, i) => burst(ana, r, n, (k) => { if (i === 0 && k === at) death = kill(); }, paceMs)));
  await death;
  await waitUntil("bob's gateway said session.resync when its NATS connection dropped", () => resyncs > 0, 30_000);
  return made.map((m, i) => ({ ...m, acked: bursts[i] }));
}

/** Closes the clients and the test's connection, stops the services (bounded: a dead node can stall a drain), removes their data. */
async function clusterCleanup(clients: ColmenaClient[], nc: NatsConnection, started: { stop(): Promise<void> }, dataDir: string): Promise<void> {
  for (const c of clients) c.close();
  await nc.close().catch(() => undefined);
  await Promise.race([started.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 20_000).unref())]);
  rmSync(dataDir, { recursive: true, force: true });
}

test("chat failover - a chat replica process SIGKILLed in a burst: every acknowledged message in history, to each member once, in order", async () => {
  await using sys = await startSystem({ services: ["auth", "chat"], env: { COLMENA_CHAT_PUSH_ACK_WAIT_MS: "1000", COLMENA_REQUEST_TIMEOUT_MS: "3000" } });
  const doomed = await processOf("chat", { ...sys.env, COLMENA_INSTANCE: uniqueName("chat-doomed-"), COLMENA_CHAT_PUSH_ACK_WAIT_MS: "1000" });
  try {
    const [ana, bob, cy] = [await sys.user({ prefix: "ana" }), await sys.user({ prefix: "bob" }), await sys.user({ prefix: "cy", transport: "ws" })];
    const r = room();
    await ana.client.request("chat.create", { room: r });
    for (const u of [ana, bob, cy]) await u.client.request("chat.join", { room: r });
    const [toAna, toBob, toCy] = [messagesOf(ana.client, r), messagesOf(bob.client, r), messagesOf(cy.client, r)];
    let death: Promise<void> | undefined;
    const acked = await burst(ana.client, r, 200, (i) => { if (i === 60) death = killed(doomed); });
    await death;
    assert.equal(await doomed.exited, "SIGKILL");
    assert.ok(acked.length >= 150, `most sends acknowledged (${acked.length})`);
    await assertDelivered(acked, [["bob", toBob], ["cy", toCy]], bob.client, r);
    assert.equal(toAna.length, 0, "no echo to the sender");
  } finally {
    await killed(doomed);
  }
});

test("chat failover - a gateway process SIGKILLed in a burst: its members resume through the SDK, every acknowledged message once, in order", async () => {
  await using sys = await startSystem({ services: ["auth", "chat"] });
  const port = await freePort();
  const gwEnv = { ...sys.env, COLMENA_TCP_PORT: String(port), COLMENA_HTTP_PORT: "0", COLMENA_TLS_PORT: "0", COLMENA_INSTANCE: uniqueName("gw-") };
  let gw = await processOf("gateway", gwEnv);
  try {
    const ana = await sys.user({ prefix: "ana" });
    const bob = await sys.user({ prefix: "bob" });
    // Bob on the doomed gateway, reconnecting to it (the SDK's default).
    const bobThere = await ColmenaClient.connect({ url: `tcp://127.0.0.1:${port}`, token: bob.accessToken, refreshToken: bob.refreshToken, requestTimeoutMs: 15_000 });
    try {
      const r = room();
      await ana.client.request("chat.create", { room: r });
      await ana.client.request("chat.join", { room: r });
      await bobThere.request("chat.join", { room: r });
      const toBob = messagesOf(bobThere, r);
      const back = new Promise<void>((res) => bobThere.onStatus((s) => s.type === "reauthenticated" && res()));
      let restarted: Promise<void> | undefined;
      const acked = await burst(ana.client, r, 300, (i) => {
        if (i === 80) restarted = killed(gw).then(async () => { gw = await processOf("gateway", gwEnv); });
      });
      await restarted;
      await back;
      // Sent once bob is back: live again. (Same client_msg_ids: resends of the first 20, answered with their originals.)
      const again = await burst(ana.client, r, 20, () => {});
      assert.ok(again.every((s) => acked.includes(s)) || again.length === 0, "a resend is answered with the original");
      await ana.client.request("chat.send", { room: r, body: "after the restart" }).then((s) => acked.push((s as { seq: number }).seq));
      await assertDelivered(acked.sort((a, b) => a - b), [["bob", toBob]], ana.client, r);
    } finally {
      bobThere.close();
    }
  } finally {
    await killed(gw);
  }
});

// The node killed is both the CHAT stream's leader and the one the gateway is connected to: the stream fails over,
// and pushes published while the gateway reconnects reach no subscription of it; bob's connection to the gateway
// stands, so only the gateway's `session.resync` (answered by the SDK's rejoin with since_seq) brings them.
test("chat failover - a 3-node NATS cluster loses the node of the stream leader and of the gateway during sends, CHAT at 3 replicas: every acknowledged message once, in order", async () => {
  await using cluster = await startNatsCluster(3);
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-chat-cluster-"));
  const env = clusterEnv(dataDir);
  const nc = await connectNats({ servers: cluster.urls, name: "cl-test", log });
  /** The CHAT leader's URL (chat started before the gateway and created the stream). */
  const leaderUrl = async () => {
    const leader = (await (await jetstreamManager(nc)).streams.info(CHAT_STREAM)).cluster?.leader;
    return cluster.servers.find((s) => s.name === leader)!.url;
  };
  // The gateway starts on the leader's node only (it learns the others from the cluster, and reconnects to one).
  const connect = async (name: string) => connectNats({ servers: name === "gateway" ? [await leaderUrl()] : cluster.urls, name: `cl-${name}`, log });
  const entries = runnerServices.filter((s) => ["auth", "chat", "gateway"].includes(s.name));
  const started = await startServices(entries, { connect, log, env });
  const clients: ColmenaClient[] = [];
  try {
    const port = started.gatewayPorts!.tcp;
    const [ana, bob] = [await clusterUser(clients, "ana", port), await clusterUser(clients, "bob", port)];
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(CHAT_STREAM);
    assert.equal(info.config.num_replicas, 3);
    const victim = cluster.servers.find((s) => s.name === info.cluster?.leader)!;
    assert.ok(victim, `the CHAT leader ${info.cluster?.leader} is one of ours`);
    const [{ r, acked, toBob }] = await burstThroughNodeDeath(ana, bob, 200, 60, () => victim.kill("SIGKILL"));
    // Sends in flight during the leader election may be refused (the client retries those); some after it must be taken.
    assert.ok(acked.length > 64, `sends acknowledged after the node's death too (${acked.length})`);
    await assertDelivered(acked, [["bob", toBob]], bob, r);
  } finally {
    await clusterCleanup(clients, nc, started, dataDir);
  }
});

// The gap session.resync closes: the stream and chat stay up (the node killed is neither the CHAT leader nor chat's),
// so pushes go on while bob's gateway reconnects; those reach no subscription of it, and bob's own connection stands.
// Without the gateway's notice and the SDK's rejoin, bob misses them.
test("chat failover - a gateway's NATS node dies while its member's two rooms are busy: session.resync brings what was pushed during the reconnect to each, once, in order", async () => {
  await using cluster = await startNatsCluster(3);
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-chat-cluster-"));
  const env = clusterEnv(dataDir);
  const [home, , doomed] = cluster.servers;
  // auth, chat and ana's gateway on the first node; bob's gateway on the third, which dies and comes back after a while:
  // that gateway knows only it (no cluster updates), so its reconnect takes as long as the node's absence, as a gateway
  // that loses its NATS network for a moment would.
  const connect = (name: string) => name === "gateway-b"
    ? connectRaw({ servers: doomed.url, name: `cl-${name}`, ignoreClusterUpdates: true, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    : connectNats({ servers: [home.url], name: `cl-${name}`, log });
  const entries = runnerServices.filter((s) => ["auth", "chat", "gateway"].includes(s.name));
  const started = await startServices([...entries, { ...entries.find((e) => e.name === "gateway")!, name: "gateway-b" }], { connect, log, env });
  const nc = await connect("test");
  const clients: ColmenaClient[] = [];
  try {
    // Keep the CHAT leader off the doomed node, so the stream stays writable and pushes go on during bob's gateway's reconnect.
    const jsm = await jetstreamManager(nc);
    for (let i = 0; (await jsm.streams.info(CHAT_STREAM)).cluster?.leader === doomed.name; i++) {
      assert.ok(i < 20, "CHAT leader moved off the doomed node");
      await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${CHAT_STREAM}`, undefined, { timeout: 5000 }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
    }
    const [gwA, gwB] = started.running.filter((r) => r.service.ports).map((r) => r.service.ports!.tcp);
    const [ana, bob] = [await clusterUser(clients, "ana", gwA), await clusterUser(clients, "bob", gwB)];
    const rooms = await burstThroughNodeDeath(ana, bob, 300, 100,
      () => doomed.kill("SIGKILL").then(() => new Promise((res) => setTimeout(res, 1500))).then(() => doomed.restart()), { rooms: 2, paceMs: 80 });
    for (const { r, acked, toBob } of rooms) {
      assert.ok(acked.length >= 250, `the stream stayed up: most sends acknowledged (${acked.length})`);
      await assertDelivered(acked, [["bob", toBob]], bob, r);
    }
  } finally {
    await clusterCleanup(clients, nc, started, dataDir);
  }
});
