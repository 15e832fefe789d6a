/**
 * Retention (COLMENA_NOTIFY_RETENTION_MS): a notification past it leaves the
 * inbox, its read mark and its message in the NOTIFY stream go with it, and
 * the subscription stays. Shortened to 2 s here (checked every 500 ms).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { NOTIFY_STREAM } from "@colmena/notify";
import { waitUntil } from "@colmena/testing";
import { startSystem } from "./harness.ts";

type Note = { notification_id: string; title: string; read: boolean };

test("notify retention - past COLMENA_NOTIFY_RETENTION_MS a notification leaves the inbox and the stream, with its read mark; the subscription stays, also after a restart", async () => {
  await using sys = await startSystem({ services: ["auth", "notify"], env: { COLMENA_NOTIFY_RETENTION_MS: "2000" } });
  const ana = await sys.user({ prefix: "ana" });
  const bob = await sys.user({ prefix: "bob" });
  const topic = `ret${Math.random().toString(36).slice(2, 8)}`;
  await ana.client.request("notify.subscribe", { topic });
  const inbox = async () => (await ana.client.request<{ notifications: Note[] }>("notify.inbox", {})).notifications;
  const jsm = await jetstreamManager(sys.nc);
  const stored = async (kind: "note" | "read") => {
    const info = await jsm.streams.info(NOTIFY_STREAM, { subjects_filter: `notify.ev.${kind}.>` });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  };

  const old1 = await bob.client.request<{ notification_id: string }>("notify.publish", { topic, title: "old 1" });
  await bob.client.request("notify.publish", { topic, title: "old 2" });
  await ana.client.request("notify.read", { notification_ids: [old1.notification_id] });
  assert.deepEqual((await inbox()).map((n) => [n.title, n.read]), [["old 1", true], ["old 2", false]]);
  assert.equal(await stored("note"), 2);
  assert.equal(await stored("read"), 1);

  await new Promise((r) => setTimeout(r, 2100));
  const fresh = await bob.client.request<{ notification_id: string }>("notify.publish", { topic, title: "new" });
  await waitUntil("the old notifications leave the inbox", async () => (await inbox()).length === 1, 10_000);
  assert.deepEqual((await inbox()).map((n) => n.notification_id), [fresh.notification_id]);
  assert.equal(await stored("note"), 1, "the stream keeps only the notification within retention");
  assert.equal(await stored("read"), 0, "the read mark on a forgotten notification went with it");

  // The subscription stays: a later notification still arrives, and a restarted replica agrees.
  await sys.restart("notify");
  const later = await bob.client.request<{ notification_id: string; recipients: number }>("notify.publish", { topic, title: "later" });
  assert.equal(later.recipients, 1);
  const titles = (await inbox()).map((n) => n.title);
  assert.ok(titles.includes("later") && !titles.includes("old 1") && !titles.includes("old 2"), `inbox after the restart: ${titles.join(", ")}`);
});
