import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { uniqueName, waitUntil } from "@colmena/testing";
import { Cli, running } from "../../test/e2e/cli-runner.ts";
import { startSystem, type System } from "../../test/e2e/harness.ts";

let sys: System;
let cli: Cli;
const ADMIN = uniqueName("boss");

before(async () => {
  sys = await startSystem({ services: ["auth", "diag"], env: { COLMENA_ADMINS: ADMIN } });
  cli = new Cli(sys.gateway.tcpUrl, { password: "" });
});
after(async () => {
  await sys?.stop();
  cli?.[Symbol.dispose]();
});

/** Runs `colmena ...args` against the test system, with its own COLMENA_HOME. */
const colmena = (args: string[], env: NodeJS.ProcessEnv = {}) => cli.run(args, { env });

test("cli - register, login, whoami, call and logout against a running system", async () => {
  const user = uniqueName("cli");
  const reg = await colmena(["register", user, "--password", "cli-password"]);
  assert.equal(reg.code, 0, reg.stderr);
  assert.match(reg.stdout, new RegExp(`registered ${user}`));

  const bad = await colmena(["login", user, "--password", "wrong-password"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unauthorized/);

  const login = await colmena(["login", user], { COLMENA_PASSWORD: "cli-password" });
  assert.equal(login.code, 0, login.stderr);
  const credsFile = join(cli.home, "credentials.json");
  assert.equal(statSync(credsFile).mode & 0o777, 0o600);
  assert.equal(JSON.parse(readFileSync(credsFile, "utf8")).username, user);

  const who = await colmena(["whoami", "--json"]);
  assert.equal(who.code, 0, who.stderr);
  assert.equal(JSON.parse(who.stdout).username, user);

  // Over WebSocket too, with the same stored login.
  const echo = await colmena(["call", "diag.echo", '{"payload":{"n":7}}', "--url", sys.gateway.wsUrl]);
  assert.equal(echo.code, 0, echo.stderr);
  assert.deepEqual(JSON.parse(echo.stdout).payload, { n: 7 });

  const badData = await colmena(["call", "diag.echo", '{"nope":1}']);
  assert.equal(badData.code, 1);
  assert.match(badData.stderr, /bad_request/);

  const out = await colmena(["logout"]);
  assert.equal(out.code, 0, out.stderr);
  const after = await colmena(["whoami"]);
  assert.equal(after.code, 1);
  assert.match(after.stderr, /not logged in/);
});

test("cli - ping and status report the gateway", async () => {
  const ping = await colmena(["ping"]);
  assert.equal(ping.code, 0, ping.stderr);
  assert.match(ping.stdout, /^pong from tcp:\/\/127\.0\.0\.1:\d+: server time \d{4}-/);

  await colmena(["register", ADMIN, "--password", "admin-password"]);
  const login = await colmena(["login", ADMIN, "--password", "admin-password"]);
  assert.equal(login.code, 0, login.stderr);
  const status = await colmena(["status", "--http", sys.gateway.httpUrl]);
  assert.equal(status.code, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /^healthz\s+200/m);
  assert.match(status.stdout, /^readyz\s+\d{3}/m);
  assert.match(status.stdout, /^auth\s+\S+ v[\d.]+: \d+ endpoints/m);
  await colmena(["logout"]);
});

test("cli - usage mistakes exit 2 and unreachable gateways exit 1 with one line", async () => {
  const unknown = await colmena(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const noUser = await colmena(["login"]);
  assert.equal(noUser.code, 2);
  assert.match(noUser.stderr, /usage: colmena login <user>/);
  const badJson = await colmena(["call", "ping", "{oops"]);
  assert.equal(badJson.code, 2);
  const help = await colmena(["help"]);
  assert.equal(help.code, 0);
  for (const name of ["up", "status", "ping", "register", "login", "whoami", "call", "listen"]) assert.match(help.stdout, new RegExp(`^  ${name}\\b`, "m"));
  const down = await colmena(["ping", "--url", "tcp://127.0.0.1:1"]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^colmena: unavailable: cannot connect to tcp:\/\/127\.0\.0\.1:1/);
});

test("cli - listen runs an op on its connection, prints pushed events, and stops on SIGINT", async () => {
  const user = uniqueName("lsn");
  await colmena(["register", user, "--password", "listen-password"]);
  assert.equal((await colmena(["login", user, "--password", "listen-password"])).code, 0);
  const channel = `diag.${uniqueName("c")}`;
  const proc = cli.spawn(["listen", "diag.subscribe", JSON.stringify({ channel })]);
  const listener = running(proc, 60_000);
  try {
    await waitUntil("the listener", () => /listening for all events/.test(listener.stderr()), 30_000);
    const { client } = await sys.user();
    await client.request("diag.push", { channel, event: "diag.note", data: { hi: 1 } });
    await waitUntil("the pushed event", () => listener.stdout().includes("diag.note"), 30_000);
    const line = listener.stdout().trim().split("\n").pop()!;
    assert.deepEqual(JSON.parse(line), { event: "diag.note", data: { hi: 1 } });
    proc.kill("SIGINT");
    assert.equal((await listener.exit).code, 0, listener.stderr());
  } finally {
    proc.kill("SIGKILL");
    await colmena(["logout"]);
  }
});
