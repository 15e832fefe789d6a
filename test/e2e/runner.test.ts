/**
 * The local runner as a user meets it: `npm start` in a fresh clone starts
 * nats-server and every service, prints the endpoints, answers a client, and
 * on Ctrl-C stops everything and exits 0. And when no nats-server can be had,
 * it says so in one sentence and exits 1.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ColmenaClient } from "@colmena/client";
import { INSTALL_HINT, ensureNatsServer, processAlive as alive, repoRoot } from "@colmena/runtime";
import { freePort } from "@colmena/testing";

const root = repoRoot();

/** A clone of the committed tree whose node_modules reuse the checkout's packages (no network). */
function cloneRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), "colmena-clone-"));
  execFileSync("git", ["clone", "--quiet", "--no-hardlinks", root, dir], { stdio: "ignore" });
  const nm = join(dir, "node_modules");
  mkdirSync(join(nm, "@colmena"), { recursive: true });
  for (const name of readdirSync(join(root, "node_modules"))) {
    if (name === "@colmena" || name === ".package-lock.json") continue;
    symlinkSync(join(root, "node_modules", name), join(nm, name));
  }
  // The workspace packages must be the clone's own, not the checkout's.
  for (const ws of ["libs", "services"]) {
    for (const name of readdirSync(join(dir, ws))) symlinkSync(join("..", "..", ws, name), join(nm, "@colmena", name));
  }
  symlinkSync(join("..", "..", "cli"), join(nm, "@colmena", "cli"));
  // A fresh marker, so setup.mjs sees the packages as installed.
  copyFileSync(join(root, "node_modules", ".package-lock.json"), join(nm, ".package-lock.json"));
  return dir;
}

interface Run {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Run {
  // Its own process group, so a signal to the group is what Ctrl-C in a terminal does.
  const proc = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (b) => (out += b));
  proc.stderr!.on("data", (b) => (err += b));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once("exit", (code, signal) => r({ code, signal })));
  return { proc, stdout: () => out, stderr: () => err, exited };
}

async function waitFor(what: string, cond: () => boolean, r: Run, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (r.proc.exitCode !== null) throw new Error(`exited (${r.proc.exitCode}) before ${what}:\n${r.stdout()}\n${r.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no ${what} in ${timeoutMs} ms:\n${r.stdout()}\n${r.stderr()}`);
    await sleep(100);
  }
}

/** Waits until no process of the group is left. */
async function waitGone(pgid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    await sleep(100);
  }
  throw new Error(`process group ${pgid} still running after ${timeoutMs} ms`);
}

function killGroup(r: Run): void {
  try { process.kill(-r.proc.pid!, "SIGKILL"); } catch { /* gone */ }
}

test("runner - npm start in a fresh clone serves clients and stops cleanly on Ctrl-C", async () => {
  const clone = cloneRepo();
  const [tcp, http, nats, monitor] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NATS_SERVER_BIN: ensureNatsServer(),
    COLMENA_TCP_PORT: String(tcp),
    COLMENA_HTTP_PORT: String(http),
    COLMENA_NATS_PORT: String(nats),
    COLMENA_NATS_MONITOR_PORT: String(monitor),
    COLMENA_LINE_CHAT_PORT: String(await freePort()),
    COLMENA_HOST: "127.0.0.1",
    COLMENA_SCRYPT_N: "1024",
    COLMENA_TYPO_SETTING: "1",
  };
  delete env.NATS_URL;
  delete env.COLMENA_HOME;
  const r = run("npm", ["start", "--silent"], clone, env);
  let natsPid = 0;
  try {
    await waitFor("endpoints", () => /WebSocket\s+ws:\/\//.test(r.stdout()), r, 120_000);
    const out = r.stdout();
    assert.match(out, new RegExp(`TCP\\s+tcp://127\\.0\\.0\\.1:${tcp}`));
    assert.match(out, new RegExp(`WebSocket\\s+ws://127\\.0\\.0\\.1:${http}/ws`));
    assert.match(out, new RegExp(`HTTP\\s+http://127\\.0\\.0\\.1:${http}/healthz`));
    assert.match(out, new RegExp(`Web page\\s+http://127\\.0\\.0\\.1:${http}/`));
    assert.match(out, new RegExp(`NATS\\s+nats://127\\.0\\.0\\.1:${nats}\\s+\\(monitoring http://127\\.0\\.0\\.1:${monitor}\\)`));
    await waitFor("the unknown-variable warning", () => r.stderr().includes("COLMENA_TYPO_SETTING"), r, 10_000);

    const pidFile = join(clone, ".colmena", "nats", "nats.pid");
    natsPid = Number(readFileSync(pidFile, "utf8"));
    assert.ok(alive(natsPid));

    for (const url of [`tcp://127.0.0.1:${tcp}`, `ws://127.0.0.1:${http}/ws`]) {
      const c = await ColmenaClient.connect({ url, reconnect: false });
      try {
        assert.ok((await c.ping()).ts > 0);
        const name = `runner${url.slice(0, 2)}${process.pid}`;
        await c.register(name, "runner-pass");
        assert.equal((await c.login(name, "runner-pass")).username, name);
      } finally {
        c.close();
      }
    }
    const health = await fetch(`http://127.0.0.1:${http}/healthz`);
    assert.equal(health.status, 200);
    // The web page, built by setup in the clone, served at /.
    const page = await fetch(`http://127.0.0.1:${http}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="app">/);
    // Read models live under the clone's .colmena.
    assert.ok(existsSync(join(clone, ".colmena", "nats", "js")));

    // Ctrl-C: SIGINT to the whole foreground process group (npm, sh, tsx, the runner).
    process.kill(-r.proc.pid!, "SIGINT");
    const exit = await Promise.race([r.exited, sleep(30_000, null, { ref: false })]);
    assert.ok(exit, `npm did not exit in 30 s after SIGINT:\n${r.stderr()}`);
    // npm passes on the shell's death by SIGINT (dash re-raises it); the runner's own clean exit shows in its last line.
    assert.ok(exit.code === 0 || exit.signal === "SIGINT", `npm exit ${JSON.stringify(exit)}:\n${r.stderr()}`);
    await waitGone(r.proc.pid!, 30_000);
    assert.match(r.stderr(), /colmena: everything stopped\n$/);
    assert.equal(alive(natsPid), false, "nats-server is gone");
    assert.equal(existsSync(pidFile), false);
  } finally {
    killGroup(r);
    if (natsPid && alive(natsPid)) process.kill(natsPid, "SIGKILL");
    rmSync(clone, { recursive: true, force: true });
  }
});

/** The runner started directly (no npm), in the checkout, with a given environment. */
function runUp(env: NodeJS.ProcessEnv): Run {
  return run(process.execPath, ["--import", "tsx", join(root, "cli/src/main.ts"), "up"], root, env);
}

test("runner - without any nats-server to be had it says how to install one and exits 1", async () => {
  const home = mkdtempSync(join(tmpdir(), "colmena-home-"));
  try {
    const env: NodeJS.ProcessEnv = {
      HOME: process.env.HOME,
      PATH: dirname(process.execPath), // node, and no nats-server
      COLMENA_HOME: home,
      NATS_SERVER_BIN: join(home, "no-such-nats-server"),
      COLMENA_NATS_INSTALL: "never",
      COLMENA_NATS_PORT: String(await freePort()),
      COLMENA_NATS_MONITOR_PORT: String(await freePort()),
    };
    const r = runUp(env);
    const exit = await Promise.race([r.exited, sleep(60_000, null, { ref: false })]);
    killGroup(r);
    assert.ok(exit, "exited");
    assert.equal(exit.code, 1, r.stderr());
    const lines = r.stderr().trim().split("\n");
    assert.deepEqual(lines, [`colmena: ${INSTALL_HINT}`]);
    assert.equal(r.stdout(), "");
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("runner - a NATS port already in use is named in one sentence, exit 1", async () => {
  const home = mkdtempSync(join(tmpdir(), "colmena-home-"));
  const blocker = createServer();
  await new Promise<void>((res) => blocker.listen(0, "127.0.0.1", res));
  const port = (blocker.address() as { port: number }).port;
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      COLMENA_HOME: home,
      NATS_SERVER_BIN: ensureNatsServer(),
      COLMENA_NATS_PORT: String(port),
      COLMENA_NATS_MONITOR_PORT: String(await freePort()),
    };
    delete env.NATS_URL;
    const r = runUp(env);
    const exit = await Promise.race([r.exited, sleep(60_000, null, { ref: false })]);
    killGroup(r);
    assert.ok(exit, "exited");
    assert.equal(exit.code, 1, r.stderr());
    assert.match(r.stderr(), new RegExp(`Port ${port} \\(NATS\\) is already taken.*COLMENA_NATS_PORT`));
  } finally {
    await new Promise((res) => blocker.close(res));
    rmSync(home, { recursive: true, force: true });
  }
});
