/**
 * A real nats-server for tests, in the manner of nats.js's launcher: a temp
 * config and JetStream dir, random ports (`-1` plus a ports file), waits until
 * it accepts, `stop()` that always cleans up, and `await using` support. The
 * process itself is started and stopped by libs/runtime's launchNats, which
 * the local runner uses too.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureNatsServer, launchNats, natsConfig, type NatsExit, type NatsProcess } from "@colmena/runtime";

export interface NatsServer extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly monitorUrl: string;
  readonly storeDir: string;
  readonly name: string;
  /** The server process id, or null while it is stopped. */
  pid(): number | null;
  /** Sends a signal (SIGKILL simulates a crash) and waits for the process to exit; says how it ended (null: it was not running). */
  kill(signal?: NodeJS.Signals): Promise<NatsExit | null>;
  /** Starts the server again on the same ports and store. */
  restart(): Promise<void>;
  /** Stops the server and removes its files. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartNatsOptions {
  jetstream?: boolean;
  /** `always` (default), `lazy`, or a duration. */
  sync?: string;
  debug?: boolean;
  /** JetStream's per-stream ingest queue bound (`max_buffered_msgs`). */
  maxBufferedMsgs?: number;
  /** `max_payload` (default NATS_MAX_PAYLOAD, as every config Colmena writes); 1 MiB is nats-server's own default, which servers Colmena did not configure have. */
  maxPayload?: number;
  /** A nats-server binary to run instead of the installed one (benchmarks compare versions with it). */
  bin?: string;
}

/** A free TCP port on loopback (for cluster routes, which need known ports). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

async function waitMetaCluster(monitorUrl: string, size: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${monitorUrl}/jsz`);
      const meta = ((await r.json()) as { meta_cluster?: { leader?: string; cluster_size?: number } }).meta_cluster;
      if (meta?.leader && meta.cluster_size === size) return;
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`JetStream meta cluster at ${monitorUrl} not formed with ${size} nodes in ${timeoutMs / 1000} s`);
}

interface LaunchSpec {
  name: string;
  config: (port: number, monitorPort: number) => string;
  fixedPorts?: { port: number; monitorPort: number };
  debug?: boolean;
  bin?: string;
}

async function launch(spec: LaunchSpec, dir: string): Promise<NatsServer> {
  const bin = spec.bin ?? ensureNatsServer();
  let proc: NatsProcess | null = null;
  let port = spec.fixedPorts?.port ?? -1;
  let monitorPort = spec.fixedPorts?.monitorPort ?? -1;
  let url = "";
  let monitorUrl = "";

  const startProc = async () => {
    const conf = join(dir, `${spec.name}.conf`);
    writeFileSync(conf, spec.config(port, monitorPort));
    proc = await launchNats({ bin, config: conf, portsDir: join(dir, `${spec.name}-ports`), echo: spec.debug });
    // A restart keeps the ports the first start was given.
    ({ url, monitorUrl } = proc);
    port = Number(new URL(url).port);
    monitorPort = Number(new URL(monitorUrl).port);
  };
  const kill = async (signal: NodeJS.Signals = "SIGTERM") => {
    const p = proc;
    proc = null;
    return p ? await p.stop(signal) : null;
  };

  await startProc();
  const server: NatsServer = {
    get url() { return url; },
    get port() { return port; },
    get monitorUrl() { return monitorUrl; },
    storeDir: join(dir, "js"),
    name: spec.name,
    pid: () => (proc?.running() ? proc.pid : null),
    kill,
    restart: async () => { await kill(); await startProc(); },
    stop: async () => { await kill(); },
    [Symbol.asyncDispose]: () => server.stop(),
  };
  return server;
}

/** One nats-server with JetStream (by default) on random loopback ports. */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), "colmena-nats-"));
  const jetstream = opts.jetstream ?? true;
  const server = await launch(
    {
      name: "n1",
      debug: opts.debug,
      bin: opts.bin,
      config: (port, monitorPort) =>
        natsConfig({ serverName: `test-${process.pid}-${port}`, port, monitorPort, storeDir: jetstream ? join(dir, "js") : undefined, sync: opts.sync ?? "always", maxBufferedMsgs: opts.maxBufferedMsgs, maxPayload: opts.maxPayload }),
    },
    dir,
  );
  const stop = server.stop;
  return Object.assign(server, {
    stop: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); },
    [Symbol.asyncDispose]: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); },
  });
}

export interface NatsCluster extends AsyncDisposable {
  readonly servers: NatsServer[];
  /** Every node's client URL, for a connection that fails over. */
  readonly urls: string[];
  stop(): Promise<void>;
}

/**
 * A JetStream cluster of `size` nodes on loopback (3 gives R3 streams).
 * nats-server 2.10 sometimes forms its meta group from only some of the
 * nodes started together (seen: 2 of 3, for good); such a cluster is torn
 * down and started afresh, up to three times.
 */
export async function startNatsCluster(size = 3, opts: StartNatsOptions = {}): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(size, opts);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function startNatsClusterOnce(size: number, opts: StartNatsOptions): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), "colmena-cluster-"));
  const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const clientPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const monitorPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`);
  const launched = await Promise.allSettled(
    clusterPorts.map((cport, i) =>
      launch(
        {
          name: `n${i + 1}`,
          debug: opts.debug,
          bin: opts.bin,
          fixedPorts: { port: clientPorts[i], monitorPort: monitorPorts[i] },
          config: (port, monitorPort) =>
            natsConfig({
              serverName: `n${i + 1}`,
              port,
              monitorPort,
              storeDir: join(dir, `n${i + 1}`),
              sync: opts.sync ?? "always",
              cluster: { name: `c${process.pid}`, port: cport, routes: routes.filter((_, j) => j !== i) },
            }),
        },
        dir,
      ),
    ),
  );
  const servers = launched.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = launched.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    // One node could not start (say its port was taken meanwhile): stop the others
    // before the retry, or they run on, holding the test process open.
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw failed.reason;
  }
  // launchNats waited for each node's plain /healthz, which includes JetStream's
  // meta group being current; then every node must know the meta leader and the
  // full cluster size, or the first R3 stream can fail with "no suitable peers for placement".
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(servers.map((s) => waitMetaCluster(s.monitorUrl, size, 20_000)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, urls: servers.map((s) => s.url), stop, [Symbol.asyncDispose]: stop };
}
