import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { AUTH_REVOKED_BUCKET, FamilyRevocations, RevokedFamilies, silentLogger } from "@colmena/runtime";
import { startNats, waitUntil } from "@colmena/testing";

test("revocations - a revoked family reaches a watcher, expires with the server's per-message TTL, and is read whole at start", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  try {
    const writer = await FamilyRevocations.open(nc);
    const before = await RevokedFamilies.watch(nc, silentLogger());
    const heard: string[] = [];
    before.onRevoked((f) => heard.push(f));
    await writer.revoke("fam-a", { user_id: "u1", reason: "logout" }, 900);
    await waitUntil("the watcher hears the revocation", () => before.has("fam-a"), 1_000);
    assert.deepEqual(heard, ["fam-a"]);
    assert.equal(before.has("fam-b"), false);
    // Once the family's last token has expired (900 s + slack), the entry no longer counts.
    assert.equal(before.has("fam-a", Date.now() + 962_000), false);

    // Revoking again (a retried logout) is no error and changes nothing.
    await writer.revoke("fam-a", { user_id: "u1", reason: "logout" }, 900);
    // The server drops the key by itself: it carries a TTL as long as the tokens live.
    const jsm = await jetstreamManager(nc);
    const m = await jsm.streams.getMessage(`KV_${AUTH_REVOKED_BUCKET}`, { last_by_subj: `$KV.${AUTH_REVOKED_BUCKET}.fam-a` });
    assert.equal(m?.header.get("Nats-TTL"), "961s");
    const short = await FamilyRevocations.open(nc);
    await short.revoke("fam-short", { user_id: "u2", reason: "reuse" }, 1);
    const gone = await RevokedFamilies.watch(nc, silentLogger());
    assert.equal(gone.has("fam-short"), true, "a watcher started later reads the list before it answers");
    assert.equal(gone.has("fam-a"), true);
    before.close();
    gone.close();
    // A 1 s token: kept 62 s, then removed by the server (not waited for here).
    const s = await jsm.streams.getMessage(`KV_${AUTH_REVOKED_BUCKET}`, { last_by_subj: `$KV.${AUTH_REVOKED_BUCKET}.fam-short` });
    assert.equal(s?.header.get("Nats-TTL"), "62s");
  } finally {
    await nc.close();
  }
});
