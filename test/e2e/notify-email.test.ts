/**
 * Email subscriptions against a real SMTP server (smtp-server): one email
 * per notification, once; a server that refuses and then recovers still
 * gets it once; one that always refuses makes a dead letter after the last
 * try without failing the publish; a digest gathers a window into one email.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { SMTPServer } from "smtp-server";
import { freePort, waitUntil } from "@colmena/testing";
import { startSystem, type System, type TestUser } from "./harness.ts";

interface Received { to: string; raw: string }
const received: Received[] = [];
/** Per recipient address: how many more tries to refuse (Infinity: always). */
const refuse = new Map<string, number>();
const tries = new Map<string, number>();

let smtp: SMTPServer;
let sys: System;
let ana: TestUser;

before(async () => {
  const port = await freePort();
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, cb) {
      let raw = "";
      stream.on("data", (c: Buffer) => { raw += c.toString(); });
      stream.on("end", () => {
        const to = session.envelope.rcptTo[0]?.address ?? "";
        tries.set(to, (tries.get(to) ?? 0) + 1);
        const left = refuse.get(to) ?? 0;
        if (left > 0) {
          refuse.set(to, left - 1);
          cb(Object.assign(new Error("try again later"), { responseCode: 451 }));
          return;
        }
        received.push({ to, raw });
        cb();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(port, "127.0.0.1", r));
  sys = await startSystem({
    services: ["auth", "notify"],
    env: {
      COLMENA_SMTP_URL: `smtp://127.0.0.1:${port}`,
      COLMENA_NOTIFY_EMAIL_ATTEMPTS: "3",
      COLMENA_NOTIFY_EMAIL_BACKOFF_MS: "100",
      COLMENA_NOTIFY_EMAIL_BACKOFF_MAX_MS: "300",
      COLMENA_NOTIFY_DIGEST_GRACE_MS: "300",
    },
  });
  ana = await sys.user({ prefix: "ana" });
});
after(async () => {
  await sys?.stop();
  await new Promise<void>((r) => smtp.close(() => r()));
});

const uniq = () => Math.random().toString(36).slice(2, 10);
const to = (addr: string) => received.filter((m) => m.to === addr);

async function emailSub(topic: string, addr: string, extra: Record<string, unknown> = {}): Promise<TestUser> {
  const u = await sys.user({ prefix: "mail" });
  await u.client.request("notify.subscribe", { topic, channels: ["push", "email"], email: addr, ...extra });
  return u;
}

test("notify email - a notification is emailed once", async () => {
  const t = `e${uniq()}`;
  const addr = `${t}@example.com`;
  await emailSub(`${t}.>`, addr);
  const r = await ana.client.request<{ recipients: number }>("notify.publish", { topic: `${t}.x`, title: `hello ${t}`, body: "the body" });
  assert.equal(r.recipients, 1);
  await waitUntil("the email", () => to(addr).length === 1, 10_000);
  assert.match(to(addr)[0].raw, new RegExp(`Subject: hello ${t}`));
  assert.match(to(addr)[0].raw, /the body/);
  await sleep(500);
  assert.equal(to(addr).length, 1);
});

test("notify email - refused twice, then accepted: it arrives once", async () => {
  const t = `r${uniq()}`;
  const addr = `${t}@example.com`;
  refuse.set(addr, 2);
  await emailSub(`${t}.*`, addr);
  await ana.client.request("notify.publish", { topic: `${t}.x`, title: "retry me" });
  await waitUntil("the email after retries", () => to(addr).length === 1, 15_000);
  assert.equal(tries.get(addr), 3);
  await sleep(800);
  assert.equal(to(addr).length, 1);
});

test("notify email - always refused: dead-lettered after the last try, the publish unaffected", async () => {
  const t = `d${uniq()}`;
  const addr = `${t}@example.com`;
  refuse.set(addr, Infinity);
  await emailSub(`${t}.*`, addr);
  const r = await ana.client.request<{ recipients: number }>("notify.publish", { topic: `${t}.x`, title: "never" });
  assert.equal(r.recipients, 1);
  await waitUntil("three tries", () => (tries.get(addr) ?? 0) >= 3, 15_000);
  await sleep(1500);
  assert.equal(tries.get(addr), 3, "no try after the last");
  assert.equal(to(addr).length, 0);
});

test("notify email - a digest gathers a window into one email, even after a refused try", async () => {
  const t = `g${uniq()}`;
  const addr = `${t}@example.com`;
  const windowMs = 3000;
  refuse.set(addr, 1);
  await emailSub(`${t}.*`, addr, { digest_s: windowMs / 1000 });
  // Start at the beginning of a window, so the three land in one.
  while (Date.now() % windowMs > 300) await sleep(20);
  for (let i = 0; i < 3; i++) await ana.client.request("notify.publish", { topic: `${t}.x`, title: `digest item ${i}` });
  await waitUntil("the digest", () => to(addr).length === 1, 15_000);
  const raw = to(addr)[0].raw;
  for (let i = 0; i < 3; i++) assert.match(raw, new RegExp(`digest item ${i}`));
  assert.match(raw, /Subject: 3 notifications/);
  assert.equal(tries.get(addr), 2);
  await sleep(1000);
  assert.equal(to(addr).length, 1);
});
