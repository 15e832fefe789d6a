/**
 * `colmena up` (`npm start`): the local runner. Linear on purpose: config ->
 * nats-server -> services (gateway last), each on its own NATS connection as
 * its own user -> endpoints -> wait for a signal, then stop everything in
 * reverse order.
 */
import { join } from "node:path";
import { colmenaHome, repoRoot, connectNats, createLogger, installProcessGuard, Lifecycle, unknownEnv } from "@colmena/runtime";
import { formatEndpoints } from "./endpoints.ts";
import { RunnerError, startLocalNats } from "./nats.ts";
import { runnerConfig, type RunnerConfig } from "./config.ts";
import { services } from "./services.ts";
import { startServices } from "./start-services.ts";
import { loadFilesKey } from "./files-key.ts";

/** Exit code -1 means "running": the process exits from the signal handler. */
export async function up(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const say = (line: string) => process.stderr.write(`colmena: ${line}\n`);
  let config: RunnerConfig;
  try {
    config = runnerConfig.load(env);
  } catch (err) {
    say((err as Error).message);
    return 1;
  }
  const log = createLogger({ service: "runner", level: config.logLevel });
  // Every service runs in this one process: a bug in one must not end the others.
  installProcessGuard(log);
  const lifecycle = new Lifecycle(log);
  // Registered first, so it runs last: everything else has stopped by then.
  let quiet = false;
  lifecycle.onClose("goodbye", () => quiet || say("everything stopped"));
  try {
    const home = colmenaHome(config.home);
    let natsUrl = config.natsUrl;
    let natsMonitorUrl: string | undefined;
    // With NATS_URL every service connects as NATS_USER (or as the URL says); else each as its own user.
    let userOf = (_service: string): { user?: string; pass?: string } => ({ user: config.natsUser, pass: config.natsPassword });
    if (!natsUrl) {
      const nats = await startLocalNats({ home, port: config.natsPort, monitorPort: config.natsMonitorPort, sync: config.natsSync, log: say });
      lifecycle.onClose("nats-server", async () => {
        const exit = await nats.stop();
        if (!exit.clean) say(`nats-server did not stop cleanly (${exit.signal ?? `exit code ${exit.code}`}); its log is ${join(home, "nats", "nats.log")}`);
      });
      natsUrl = nats.url;
      natsMonitorUrl = nats.monitorUrl;
      userOf = (service) => ({ user: service, pass: nats.credentials[service] });
    }
    const url = natsUrl;
    const connect = (service: string) =>
      Promise.race([
        connectNats({ servers: url, name: `colmena-${service}`, log, ...userOf(service) }),
        new Promise<never>((_, reject) => setTimeout(() => reject(new RunnerError(`Cannot reach NATS at ${url}: check NATS_URL (and NATS_USER, NATS_PASSWORD), or unset it to let the runner start its own nats-server.`)), 15_000).unref()),
      ]);
    const serviceEnv: NodeJS.ProcessEnv = {
      // The original task client sends frames without logging in; locally that is allowed by default.
      COLMENA_LEGACY_ANONYMOUS: "true",
      // The original line chat listens locally by default (protocol.md section 9).
      COLMENA_LINE_CHAT_PORT: "65432",
      // Read models under this runner's home, whatever COLMENA_HOME says.
      COLMENA_DATA_DIR: join(home, "data"),
      // The files master key, kept in the runner's home (mode 0600) unless given.
      COLMENA_FILES_KEY: env.COLMENA_FILES_KEY || loadFilesKey(home),
      // The web page, built by scripts/setup.mjs, served by the gateway at /.
      COLMENA_WEB_DIR: join(repoRoot(), "apps", "web", "dist"),
      ...env,
      NATS_URL: natsUrl,
    };
    const started = await startServices(services, { connect, log, env: serviceEnv }, (name, s) => lifecycle.onClose(name, () => s.stop()));
    stopOnSignals(lifecycle, say);
    if (started.gatewayPorts) {
      process.stdout.write(
        formatEndpoints({ host: config.host, ports: started.gatewayPorts, natsUrl, natsMonitorUrl, home, services: started.running.map((r) => r.name) }) + "\n",
      );
    }
    const unknown = unknownEnv(env);
    if (unknown.length > 0) say(`warning: unknown variable${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (a typo?); no service reads ${unknown.length > 1 ? "them" : "it"}`);
    return -1;
  } catch (err) {
    say(err instanceof RunnerError ? err.message : `could not start: ${(err as Error).message}`);
    quiet = true;
    await lifecycle.close();
    return 1;
  }
}

/**
 * Ctrl-C stops everything, then exits 0. Unlike Lifecycle.handleSignals, a
 * second signal within a second is taken as the same Ctrl-C relayed by npm or
 * tsx (which forward the signal the process group already got), not as an
 * impatient user; a later one exits at once.
 */
function stopOnSignals(lifecycle: Lifecycle, say: (s: string) => void, graceMs = 15_000): void {
  let first = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (first !== 0) {
      if (Date.now() - first < 1_000) return;
      say(`${sig} again: exiting without waiting`);
      process.exit(130);
    }
    first = Date.now();
    say(`${sig}: stopping ...`);
    setTimeout(() => {
      say(`not stopped after ${graceMs / 1000} s: exiting`);
      process.exit(1);
    }, graceMs).unref();
    void lifecycle.close().then(() => process.exit(0));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
