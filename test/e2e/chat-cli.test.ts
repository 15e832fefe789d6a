/**
 * `colmena chat` driven in pseudo-terminals (util-linux `script`): two users
 * chat in a room (history, live messages, typing, receipts), then in an
 * encrypted DM; the secret appears nowhere in the CHAT stream, the read
 * model's files or the services' logs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { uniqueName } from "@colmena/testing";
import { Cli } from "./cli-runner.ts";
import { startSystem } from "./harness.ts";
import { Terminal } from "./terminal.ts";

/** Every file's bytes under `dir`, as latin1 text (SQLite files and their WAL). */
function filesText(dir: string): string {
  let all = "";
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    all += statSync(p).isDirectory() ? filesText(p) : readFileSync(p).toString("latin1");
  }
  return all;
}

test("cli - chat: history, live messages, typing and receipts between two users, and an encrypted DM whose text is stored nowhere", async () => {
  let logs = "";
  const sink = new Writable({ write(chunk, _enc, cb) { logs += chunk.toString(); cb(); } });
  await using sys = await startSystem({ services: ["auth", "chat"], log: pino({ level: "trace" }, sink) });
  const [alice, bob] = [uniqueName("alice"), uniqueName("bob")];
  using aliceCli = new Cli(sys.gateway.tcpUrl);
  using bobCli = new Cli(sys.gateway.tcpUrl);
  const clis = new Map([[alice, aliceCli], [bob, bobCli]]);
  const terms: Terminal[] = [];
  try {
    for (const [u, cli] of clis) {
      await cli.ok(["register", u]);
      await cli.ok(["login", u]);
    }
    const room = uniqueName("room").toLowerCase().replace(/[^a-z0-9_-]/g, "-");
    const a = new Terminal(["chat", room], aliceCli.env);
    terms.push(a);
    await a.sees(`* joined ${room}`);
    await a.line("first, before bob came");
    await a.sees(/\[#\d+\] .*: first, before bob came/);

    const b = new Terminal(["chat", room], bobCli.env);
    terms.push(b);
    await b.sees(`${alice}: first, before bob came`); // history on join
    await a.sees(`* ${bob} is online`);

    let mark = b.out.length;
    await a.type("hello bob");
    await b.sees(`* ${alice} is typing`, mark);
    await a.line("");
    await b.sees(`${alice}: hello bob`, mark);
    await a.sees(new RegExp(`delivered to ${bob}`));
    await a.sees(new RegExp(`read by ${bob}`));
    mark = a.out.length;
    await b.line("hi alice");
    await a.sees(`${bob}: hi alice`, mark);

    // The encrypted DM: bob publishes his key first, then alice encrypts for it.
    const secret = `the-secret-${uniqueName("s")}`;
    await b.line(`/dm ${alice}`);
    await b.line("/e2e");
    await b.sees("end-to-end encryption on");
    mark = b.out.length;
    await a.line(`/dm ${bob}`);
    await a.line("/e2e");
    await a.sees("end-to-end encryption on");
    await a.line(secret);
    await a.sees(new RegExp(`\\[#\\d+\\] ${alice}: ${secret}  \\[e2e\\]`));
    await b.sees(`${alice}: ${secret}  [e2e]`, mark);
    mark = a.out.length;
    await b.line("a secret reply");
    await a.sees(`${bob}: a secret reply  [e2e]`, mark);

    for (const t of [a, b]) await t.line("/quit");
    assert.deepEqual(await Promise.all([a.exited(), b.exited()]), [0, 0]);
    for (const { home } of clis.values()) {
      const dir = join(home, "chat-keys");
      const [file] = readdirSync(dir);
      assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600);
    }

    // The raw CHAT stream holds the plain messages but neither encrypted text.
    const jsm = await jetstreamManager(sys.nc);
    const info = await jsm.streams.info("CHAT");
    let stream = "";
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage("CHAT", { seq }).catch(() => null);
      if (m) stream += new TextDecoder().decode(m.data);
    }
    assert.ok(stream.includes("hello bob") && stream.includes("ciphertext"), "the stream read is the one written");
    assert.ok(!stream.includes(secret) && !stream.includes("a secret reply"), "plaintext in the CHAT stream");
    const files = filesText(sys.env.COLMENA_DATA_DIR!);
    assert.ok(files.includes("hello bob"), "the read model's files are the ones read");
    assert.ok(!files.includes(secret) && !files.includes("a secret reply"), "plaintext in the read model");
    assert.ok(logs.length > 0 && !logs.includes(secret) && !logs.includes("a secret reply"), "plaintext in the logs");
  } finally {
    for (const t of terms) t.kill();
  }
});
