/**
 * `POST /v1/notify/<topic>` through the gateway's HTTP port, with curl as the
 * client (protocol.md section 8, the conventions of ntfy): a text body with
 * the `Title` header, a JSON body, PUT, and the errors of `notify.publish`
 * as HTTP statuses.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startSystem, type System, type TestUser } from "./harness.ts";

const run = promisify(execFile);
let sys: System;
let ana: TestUser;
let bob: TestUser;
let dir: string;

before(async () => {
  sys = await startSystem({ services: ["auth", "notify"] });
  ana = await sys.user({ prefix: "ana" });
  bob = await sys.user({ prefix: "bob" });
  dir = mkdtempSync(join(tmpdir(), "colmena-curl-"));
});
after(async () => {
  await sys?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** curl with its arguments; the status and the body. */
async function curl(...args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run("curl", ["-s", "-w", "\n%{http_code}", ...args], { maxBuffer: 1 << 20 });
  const nl = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(nl + 1)), body: stdout.slice(0, nl) };
}
const url = (topic: string) => `${sys.gateway.httpUrl}/v1/notify/${topic}`;
const auth = (u: TestUser) => `Authorization: Bearer ${u.accessToken}`;
type Note = { notification_id: string; topic: string; title: string; body?: string; data?: unknown };
const inbox = async (u: TestUser) => (await u.client.request<{ notifications: Note[] }>("notify.inbox", { limit: 500 })).notifications;
const uniq = () => Math.random().toString(36).slice(2, 10);

test("notify http publish - curl -d publishes the text; Title, JSON and PUT", async () => {
  const topic = `ci${uniq()}.deploy`;
  await ana.client.request("notify.subscribe", { topic });
  const plain = await curl("-d", "deploy finished", "-H", auth(bob), url(topic));
  assert.equal(plain.status, 200, plain.body);
  const r = JSON.parse(plain.body) as { notification_id: string; recipients: number };
  assert.match(r.notification_id, /^n_[0-9a-f]{32}$/);
  assert.equal(r.recipients, 1);
  const titled = JSON.parse((await curl("-d", "v2 is out", "-H", "Title: Release", "-H", auth(bob), url(topic))).body).notification_id;
  const json = JSON.parse((await curl("-H", "Content-Type: application/json", "-d", JSON.stringify({ title: "built", body: "ok", data: { build: 7 } }), "-H", auth(bob), url(topic))).body).notification_id;
  const put = await curl("-X", "PUT", "--data-binary", "by put", "-H", auth(bob), url(topic));
  assert.equal(put.status, 200, put.body);

  const box = new Map((await inbox(ana)).map((n) => [n.notification_id, n]));
  assert.deepEqual([box.get(r.notification_id)?.title, box.get(r.notification_id)?.body], [topic, "deploy finished"]);
  assert.deepEqual([box.get(titled)?.title, box.get(titled)?.body], ["Release", "v2 is out"]);
  assert.deepEqual([box.get(json)?.title, box.get(json)?.body, box.get(json)?.data], ["built", "ok", { build: 7 }]);
  assert.equal(box.get(JSON.parse(put.body).notification_id)?.body, "by put");
});

test("notify http publish - 401 without a token, 403 on a reserved topic, 400 on a bad topic or body, 413 beyond a notification's size", async () => {
  const topic = `e${uniq()}`;
  const noToken = await curl("-d", "x", url(topic));
  assert.equal(noToken.status, 401, noToken.body);
  assert.equal((await curl("-d", "x", "-H", "Authorization: Bearer not-a-token", url(topic))).status, 401);
  const reserved = await curl("-d", "x", "-H", auth(bob), url(`tasks.${ana.username.toLowerCase()}.done`));
  assert.equal(reserved.status, 403, reserved.body);
  assert.equal(JSON.parse(reserved.body).error.code, "forbidden");
  assert.equal((await curl("-d", "x", "-H", auth(bob), url("Not%20A%20Topic"))).status, 400);
  assert.equal((await curl("-d", "x", "-H", auth(bob), url("a..b"))).status, 400);
  assert.equal((await curl("-H", "Content-Type: application/json", "-d", "{nope", "-H", auth(bob), url(topic))).status, 400);
  assert.equal((await curl("-H", "Content-Type: application/json", "-d", JSON.stringify({ body: "no title" }), "-H", auth(bob), url(topic))).status, 400);
  const big = join(dir, "big.txt");
  writeFileSync(big, "x".repeat(64 * 1024));
  const tooBig = await curl("--data-binary", `@${big}`, "-H", auth(bob), url(topic));
  assert.equal(tooBig.status, 413, tooBig.body);
  // Nothing of these reached anyone: the next publish is alone on its topic.
  await ana.client.request("notify.subscribe", { topic });
  const ok = JSON.parse((await curl("-d", "fine", "-H", auth(bob), url(topic))).body);
  assert.equal(ok.recipients, 1);
  assert.deepEqual((await inbox(ana)).filter((n) => n.topic === topic).map((n) => n.notification_id), [ok.notification_id]);
});
