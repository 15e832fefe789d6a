/** @test-exclusive (scripts/run-tests.mjs: runs alone, after the others)
 * The web page (apps/web) in a real Chromium against the real system: the
 * gateway serves the built page at `/`, and two browser contexts use it as
 * two people would. Every test fails on any console error or uncaught
 * exception in its pages. Screenshots of each screen go to a temporary folder,
 * or to docs/screenshots/ with UPDATE_SCREENSHOTS=1 (the suite must leave the
 * checkout untouched).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { repoRoot } from "@colmena/runtime";
import { uniqueName, waitUntil } from "@colmena/testing";
import { startSystem, type System, type TestUser } from "./harness.ts";
import { Cli } from "./cli-runner.ts";
import { Terminal } from "./terminal.ts";
import { ensureChromium, launchChromium, watchedContext } from "./web-browser.ts";

const root = repoRoot();
const chromium = ensureChromium();
const skip = "skip" in chromium ? chromium.skip : false;
const shots = process.env.UPDATE_SCREENSHOTS ? join(root, "docs", "screenshots") : mkdtempSync(join(tmpdir(), "colmena-shots-"));
mkdirSync(shots, { recursive: true });

let sys: System;
let browser: Browser;

before(async () => {
  if (skip) return;
  // The same step as `npm start`: builds apps/web when its dist is missing or stale.
  execFileSync(process.execPath, [join(root, "scripts", "setup.mjs")], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  sys = await startSystem({ env: { COLMENA_WEB_DIR: join(root, "apps", "web", "dist") } });
  browser = await launchChromium((chromium as { path: string }).path);
});
after(async () => {
  await browser?.close();
  await sys?.stop();
});

/** A page of a fresh context, at the site, logged in as `u` through the login form. */
async function loggedIn(u: TestUser, hash = "") {
  const w = await watchedContext(browser);
  await w.page.goto(`${sys.gateway.httpUrl}/${hash}`);
  await w.page.getByLabel("Username").fill(u.username);
  await w.page.getByLabel("Password").fill(u.password);
  await w.page.getByRole("button", { name: "Log in", exact: true }).last().click();
  await w.page.getByTestId("me").filter({ hasText: u.username }).waitFor();
  return w;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), animations: "disabled" });

test("web - the gateway serves the built page with its content types and caching, and nothing outside its folder", { skip }, async () => {
  const base = sys.gateway.httpUrl;
  const index = await fetch(`${base}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get("content-type")!, /^text\/html/);
  assert.equal(index.headers.get("cache-control"), "no-cache");
  assert.match(index.headers.get("content-security-policy")!, /default-src 'self'/);
  const html = await index.text();
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(asset, "index.html names its script");
  const js = await fetch(`${base}${asset}`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type")!, /^text\/javascript/);
  assert.match(js.headers.get("cache-control")!, /immutable/);
  assert.equal((await fetch(`${base}${asset}`, { method: "HEAD" })).headers.get("content-length"), js.headers.get("content-length"));
  for (const evil of ["/../package.json", "/%2e%2e/package.json", "/assets/%2e%2e/%2e%2e/package.json", "/..%2fpackage.json", "/%00", "/%E0%A4%A"]) {
    const r = await fetch(`${base}${evil}`);
    assert.equal(r.status, 404, evil);
    assert.doesNotMatch(await r.text(), /workspaces/, evil);
  }
  assert.equal((await fetch(`${base}/healthz`)).status, 200, "the gateway's own routes still answer");
  assert.equal((await fetch(`${base}/`, { method: "POST" })).status, 405);
});

test("web - register, log in, stay logged in across a reload, log out", { skip }, async () => {
  const { context, page, errors } = await watchedContext(browser);
  const username = `web${Date.now().toString(36)}`;
  await page.goto(`${sys.gateway.httpUrl}/`);
  await page.getByRole("button", { name: "Register", exact: true }).click();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill("correct horse battery");
  await shot(page, "login");
  await page.getByRole("button", { name: "Register and log in" }).click();
  await page.getByTestId("me").filter({ hasText: username }).waitFor();
  await page.reload();
  await page.getByTestId("me").filter({ hasText: username }).waitFor();
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("Username").waitFor();
  await page.reload();
  await page.getByLabel("Username").waitFor();
  await context.close();
  assert.deepEqual(errors, []);
});

test("web - two browsers chat in the lobby: live messages, presence, typing and read receipts", { skip }, async () => {
  const ana = await sys.user({ prefix: "ana" });
  const bob = await sys.user({ prefix: "bob" });
  const a = await loggedIn(ana, "#chat");
  const b = await loggedIn(bob, "#chat");
  await a.page.locator(".online").filter({ hasText: bob.username }).waitFor();
  await a.page.getByLabel("Message", { exact: true }).fill("hola from ana");
  await a.page.getByRole("button", { name: "Send" }).click();
  await b.page.locator(".msg").filter({ hasText: "hola from ana" }).waitFor();
  // Bob has the lobby open, so his page reads what arrives: ana's page shows it read.
  await a.page.locator(".msg.mine .receipt.read").first().waitFor();
  await b.page.getByLabel("Message", { exact: true }).pressSequentially("hi ana", { delay: 20 });
  await a.page.locator(".typing").filter({ hasText: `${bob.username} is typing` }).waitFor();
  await b.page.getByLabel("Message", { exact: true }).press("Enter");
  await a.page.locator(".msg").filter({ hasText: "hi ana" }).waitFor();
  await shot(a.page, "chat");
  await b.context.close();
  await a.page.locator(".online").filter({ hasNotText: bob.username }).waitFor();
  await a.context.close();
  assert.deepEqual([...a.errors, ...b.errors], []);
});

test("web - history pages back with Load older messages", { skip }, async () => {
  const ana = await sys.user({ prefix: "ana" });
  const room = `hist${Date.now().toString(36)}`;
  await ana.client.request("chat.create", { room });
  await ana.client.request("chat.join", { room });
  for (let i = 1; i <= 60; i++) await ana.client.request("chat.send", { room, body: `old ${i}` });
  const a = await loggedIn(ana, "#chat");
  await a.page.locator(`[data-room="${room}"]`).click();
  await a.page.locator(".msg").filter({ hasText: "old 60" }).waitFor();
  assert.equal(await a.page.locator(".msg").filter({ hasText: /^.*old 1$/ }).count(), 0);
  await a.page.getByRole("button", { name: "Load older messages" }).click();
  await a.page.locator(".msg .body").filter({ hasText: /^old 1$/ }).waitFor();
  assert.equal(await a.page.getByRole("button", { name: "Load older messages" }).count(), 0);
  await a.context.close();
  assert.deepEqual(a.errors, []);
});

test("web - a task's progress and result show live", { skip }, async () => {
  const ana = await sys.user({ prefix: "ana" });
  const a = await loggedIn(ana, "#tasks");
  await a.page.getByLabel("Type").selectOption("sleep");
  await a.page.getByLabel("Input").fill("3");
  await a.page.getByRole("button", { name: "Submit" }).click();
  const row = a.page.locator("li.task").first();
  await row.locator("progress").waitFor();
  await waitUntil("progress shows", async () => Number(await row.locator("progress").getAttribute("value").catch(() => "0")) > 0);
  await shot(a.page, "tasks");
  await row.getByTestId("task-status").filter({ hasText: "done" }).waitFor({ timeout: 20_000 });
  await row.getByTestId("task-result").filter({ hasText: "3" }).waitFor();
  await a.page.getByLabel("Type").selectOption("uppercase");
  await a.page.getByLabel("Input").fill("hola mundo");
  await a.page.getByRole("button", { name: "Submit" }).click();
  await a.page.getByTestId("task-result").filter({ hasText: "HOLA MUNDO" }).waitFor({ timeout: 30_000 });
  await a.page.getByLabel("Filter by status").selectOption("done");
  await a.page.locator("li.task").nth(1).waitFor();
  await a.context.close();
  assert.deepEqual(a.errors, []);
});

test("web - a notification arrives live and is marked read", { skip }, async () => {
  const ana = await sys.user({ prefix: "ana" });
  const bob = await sys.user({ prefix: "bob" });
  const a = await loggedIn(ana, "#notifications");
  const topic = `news.${Date.now().toString(36)}`;
  await a.page.getByLabel("Topic").first().fill("news.*");
  await a.page.getByRole("button", { name: "Subscribe" }).click();
  await a.page.locator(`[data-topic="news.*"]`).waitFor();
  await bob.client.request("notify.publish", { topic, title: "Hive meeting", body: "at noon" });
  const note = a.page.locator(".note.unread").filter({ hasText: "Hive meeting" });
  await note.waitFor();
  await shot(a.page, "notifications");
  await note.getByRole("button", { name: "Mark read" }).click();
  await a.page.locator(".note.read").filter({ hasText: "Hive meeting" }).waitFor();
  const inbox = await ana.client.request<{ notifications: { title: string; read: boolean }[] }>("notify.inbox", {});
  assert.deepEqual(inbox.notifications.map((n) => [n.title, n.read]), [["Hive meeting", true]]);
  await a.context.close();
  assert.deepEqual(a.errors, []);
});

test("web - the file list shows folders, versions and a share link", { skip }, async () => {
  const ana = await sys.user({ prefix: "ana" });
  const put = (path: string, text: string) => ana.client.request("files.put", { path, content: Buffer.from(text).toString("base64"), content_type: "text/plain" });
  await put("docs/plan.txt", "v1");
  await put("docs/plan.txt", "v2 longer");
  await put("notes.txt", "hello");
  const a = await loggedIn(ana, "#files");
  await a.page.locator(`[data-path="notes.txt"]`).waitFor();
  await shot(a.page, "files");
  await a.page.getByRole("button", { name: "docs/" }).click();
  const plan = a.page.locator(`[data-path="docs/plan.txt"]`);
  await plan.getByRole("button", { name: "Versions" }).click();
  await plan.locator(".versions li").nth(1).waitFor();
  await plan.getByRole("button", { name: "Share" }).click();
  const link = await plan.getByTestId("share-link").textContent();
  assert.match(link!, /\/v1\/share\/./);
  await plan.getByRole("button", { name: "Delete" }).click();
  await plan.getByRole("button", { name: "Confirm delete" }).click();
  await a.page.getByText("No files here.").waitFor();
  await a.context.close();
  assert.deepEqual(a.errors, []);
});

test("web - encrypted chat: a DM between the page and `colmena chat` both ways, and a private room between two pages", { skip }, async () => {
  const ana = await sys.user({ prefix: "ana" });
  const carol = await sys.user({ prefix: "carol" });
  const bob = uniqueName("bob");
  using cli = new Cli(sys.gateway.tcpUrl);
  const keysOf = async (u: string) => (await ana.client.request<{ keys: unknown[] }>("chat.keys.get", { username: u })).keys.length;
  let t: Terminal | undefined;
  try {
    await cli.ok(["register", bob]);
    await cli.ok(["login", bob]);
    const a = await loggedIn(ana, "#chat");
    const c = await loggedIn(carol, "#chat");
    await waitUntil("both pages published their keys", async () => (await keysOf(ana.username)) > 0 && (await keysOf(carol.username)) > 0);

    // bob, in the CLI, turns encryption on for the DM (publishing his key) before ana's page encrypts for him.
    t = new Terminal(["chat", "lobby"], cli.env);
    await t.sees("* joined lobby");
    await t.line(`/dm ${ana.username}`);
    await t.line("/e2e");
    await t.sees("end-to-end encryption on");
    const secret = `from-the-page-${uniqueName("s")}`;
    await a.page.getByText("Direct message").click();
    const dm = a.page.getByRole("form", { name: "Direct message" });
    await dm.getByLabel("To").fill(bob);
    await dm.getByLabel("Text").fill(secret);
    assert.ok(await dm.getByLabel("Encrypt").isChecked());
    await dm.getByRole("button", { name: "Send" }).click();
    await t.sees(`${ana.username}: ${secret}  [e2e]`);
    await a.page.locator(".msg.mine").filter({ hasText: secret }).filter({ has: a.page.locator(".lock") }).waitFor();
    await t.line("a secret reply from the terminal");
    await a.page.locator(".msg").filter({ hasText: "a secret reply from the terminal" }).filter({ has: a.page.locator(".lock") }).waitFor();
    const stored = await ana.client.request<{ messages: { body?: string; ciphertext?: string }[] }>("chat.history", { room: await roomOf(a.page) });
    assert.ok(stored.messages.length === 2 && stored.messages.every((m) => m.ciphertext && m.body === undefined), "the server holds only ciphertext");
    await shot(a.page, "chat-encrypted");
    await t.line("/quit");
    assert.equal(await t.exited(), 0);

    // Two pages: a private room, encrypted for its members.
    const room = uniqueName("sec").toLowerCase().replace(/[^a-z0-9_-]/g, "-");
    await a.page.getByText("New room / join").click();
    const form = a.page.getByRole("form", { name: "New room" });
    await form.getByLabel("Room").fill(room);
    await form.getByLabel("Private").check();
    await form.getByLabel("Members").fill(carol.username);
    await form.getByRole("button", { name: "Create" }).click();
    await a.page.getByRole("heading", { name: room }).waitFor();
    await a.page.locator(".composer").getByLabel("Encrypt").check();
    await a.page.getByLabel("Message", { exact: true }).fill("for carol's eyes only");
    await a.page.locator(".composer").getByRole("button", { name: "Send" }).click();
    await a.page.locator(".msg.mine").filter({ hasText: "for carol's eyes only" }).waitFor();
    await c.page.locator(`[data-room="${room}"]`).click();
    await c.page.locator(".msg").filter({ hasText: "for carol's eyes only" }).filter({ has: c.page.locator(".lock") }).waitFor();
    await a.context.close();
    await c.context.close();
    assert.deepEqual([...a.errors, ...c.errors], []);
  } finally {
    t?.kill();
  }
});

/** The room the page has open (its room view's label). */
async function roomOf(page: Page): Promise<string> {
  const label = await page.locator(".room-view").getAttribute("aria-label");
  return label!.replace(/^Room /, "");
}

test("web - a tus upload cut by a reload goes on from where it was when the same file is chosen again", { skip }, async () => {
  const ana = await sys.user({ prefix: "ana" });
  const dir = mkdtempSync(join(tmpdir(), "colmena-web-up-"));
  // A file on disk, not a buffer: its modification time is part of tus-js-client's fingerprint, so it must not change between the two choices.
  const file = join(dir, "big.bin");
  const bytes = randomBytes(20 << 20);
  writeFileSync(file, bytes);
  try {
    const a = await loggedIn(ana, "#files");
    const methods: string[] = [];
    a.page.on("request", (r) => { if (r.url().includes("/v1/tus/")) methods.push(r.method()); });
    const firstPatch = a.page.waitForResponse((r) => r.request().method() === "PATCH" && r.status() === 204);
    await a.page.getByLabel("Choose files to upload").setInputFiles(file);
    await a.page.getByLabel("upload of big.bin").waitFor();
    await firstPatch;
    await a.page.reload();
    assert.equal(methods.filter((m) => m === "POST").length, 1);
    methods.length = 0;
    await a.page.getByText("Unfinished: big.bin").waitFor();
    await a.page.getByLabel("Choose files to upload").setInputFiles(file);
    await a.page.getByText("resuming an earlier upload").waitFor();
    await a.page.locator(`[data-path="big.bin"]`).waitFor({ timeout: 60_000 });
    assert.equal(methods.includes("POST"), false, `the upload started over: ${methods.join(" ")}`);
    assert.equal(methods[0], "HEAD");
    const stat = await ana.client.request<{ size: number; sha256: string }>("files.stat", { path: "big.bin" });
    assert.equal(stat.size, bytes.length);
    assert.equal(stat.sha256, createHash("sha256").update(bytes).digest("hex"));
    await a.context.close();
    assert.deepEqual(a.errors, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("web - a file uploaded in one browser downloads through GET /v1/files, and another browser opens its share link", { skip }, async () => {
  const ana = await sys.user({ prefix: "ana" });
  const text = `quarterly numbers ${uniqueName("r")}`;
  const a = await loggedIn(ana, "#files");
  await a.page.getByLabel("Choose files to upload").setInputFiles({ name: "report.txt", mimeType: "text/plain", buffer: Buffer.from(text) });
  const row = a.page.locator(`[data-path="report.txt"]`);
  await row.waitFor();
  const [download] = await Promise.all([a.page.waitForEvent("download"), row.getByRole("button", { name: "Download" }).click()]);
  assert.equal(download.suggestedFilename(), "report.txt");
  const { readFileSync } = await import("node:fs");
  assert.equal(readFileSync((await download.path())!, "utf8"), text);
  await row.getByRole("button", { name: "Share" }).click();
  const link = (await row.getByTestId("share-link").textContent())!;
  const b = await watchedContext(browser);
  const res = await b.page.goto(link);
  assert.equal(res?.status(), 200);
  assert.equal((await b.page.locator("body").innerText()).trim(), text);
  await a.context.close();
  await b.context.close();
  assert.deepEqual([...a.errors, ...b.errors], []);
});
