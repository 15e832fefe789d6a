/**
 * The runner's own nats-server: JetStream in `$COLMENA_HOME/nats`, durable
 * writes by default (`sync_interval: always`, design.md section 8), on fixed
 * ports unless 0 is asked for. It runs in its own process group so that
 * Ctrl-C reaches only the runner, which stops it last, after the services.
 * It refuses anonymous clients: every service connects as its own user
 * (credentials.ts), with the permissions generated from the op registry.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { authorizationBlock, ensureNatsServer, launchNats, natsConfig, NatsStartError, stopPid, type NatsExit } from "@colmena/runtime";
import { loadCredentials, type NatsCredentials } from "./credentials.ts";

/** A failure the runner explains in one sentence and exits 1 on. */
export class RunnerError extends Error {
  override name = "RunnerError";
}

export interface LocalNats {
  url: string;
  monitorUrl: string;
  pid: number;
  bin: string;
  /** Each NATS user's password (`credentials.json` beside the config). */
  credentials: NatsCredentials;
  credentialsFile: string;
  /** Stops the server; resolves with how it ended (clean: exit code 0, as nats-server 2.11+ gives after SIGTERM). */
  stop(): Promise<NatsExit>;
}

export interface LocalNatsOptions {
  home: string;
  port: number;
  monitorPort: number;
  /** The COLMENA_NATS_SYNC setting: `always`, a duration, or null for the server's default. */
  sync: string | null;
  log: (line: string) => void;
}

function portFree(port: number): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** Stops a nats-server that an earlier run left behind (killed before it could clean up). */
async function stopLeftover(pidFile: string, conf: string, log: (s: string) => void): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  rmSync(pidFile, { force: true });
  if (!pid) return;
  let cmdline = "";
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return; // gone, or cannot tell what it is: leave it alone
  }
  if (!cmdline.includes("nats-server") || !cmdline.includes(conf)) return;
  log(`stopping the nats-server an earlier run left behind (pid ${pid})`);
  await stopPid(pid);
}

/** Starts nats-server for the runner; throws RunnerError with a one-sentence reason. */
export async function startLocalNats(o: LocalNatsOptions): Promise<LocalNats> {
  let bin: string;
  try {
    bin = ensureNatsServer(o.log);
  } catch (err) {
    throw new RunnerError((err as Error).message);
  }
  const dir = join(o.home, "nats");
  const portsDir = join(dir, "ports");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const conf = join(dir, "nats.conf");
  const credentialsFile = join(dir, "credentials.json");
  const pidFile = join(dir, "nats.pid");
  const logFile = join(dir, "nats.log");
  await stopLeftover(pidFile, conf, o.log);
  for (const [port, what, env] of [[o.port, "NATS", "COLMENA_NATS_PORT"], [o.monitorPort, "NATS monitoring", "COLMENA_NATS_MONITOR_PORT"]] as const) {
    if (!(await portFree(port)))
      throw new RunnerError(
        `Port ${port} (${what}) is already taken, probably by another nats-server: stop it, choose another port with ${env}, or set NATS_URL=nats://127.0.0.1:${o.port} to use the server that is there.`,
      );
  }
  // nats-server takes -1 for "any free port"; 0 would mean its default port.
  const credentials = loadCredentials(credentialsFile);
  const config = natsConfig({ serverName: "colmena-local", port: o.port || -1, monitorPort: o.monitorPort || -1, storeDir: join(dir, "js"), sync: o.sync ?? "lazy" });
  // The config holds the passwords too: as private as the credentials file.
  writeFileSync(conf, config + authorizationBlock(credentials), { mode: 0o600 });
  chmodSync(conf, 0o600);
  o.log(`starting ${bin} (JetStream in ${join(dir, "js")}, log ${logFile}) ...`);
  let proc;
  try {
    proc = await launchNats({
      bin, config: conf, portsDir, logFile, detached: true,
      healthPath: "/healthz?js-enabled-only=true",
      onSpawn: (pid) => writeFileSync(pidFile, String(pid)),
    });
  } catch (err) {
    rmSync(pidFile, { force: true });
    throw err instanceof NatsStartError ? new RunnerError(err.message) : err;
  }
  const stop = async () => {
    const exit = await proc.stop();
    rmSync(pidFile, { force: true });
    return exit;
  };
  return { url: proc.url, monitorUrl: proc.monitorUrl, pid: proc.pid, bin, credentials, credentialsFile, stop };
}
