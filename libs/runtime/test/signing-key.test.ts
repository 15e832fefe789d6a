import { test } from "node:test";
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { BUCKETS } from "@colmena/protocol";
import { generateSigningKey, loadSigningKey } from "@colmena/runtime";
import { startNats } from "@colmena/testing";

test("signing key - kept apart from the public keys, and moved out of the public bucket where an earlier version left it", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  try {
    const kvm = new Kvm(nc);
    // As earlier versions stored it: beside the public keys every gateway may read.
    const old = generateSigningKey();
    const legacy = {
      kid: old.kid,
      alg: "EdDSA",
      public_pem: old.publicKey.export({ type: "spki", format: "pem" }).toString(),
      private_pem: old.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    };
    const pub = await kvm.create(BUCKETS.authKeys.name, { history: 1 });
    await pub.put("signing.private", JSON.stringify(legacy));

    const key = await loadSigningKey(nc);
    assert.equal(key.kid, old.kid, "the same key, so tokens already issued stay valid");
    const left = await pub.get("signing.private");
    assert.ok(!left || (left.operation === "PURGE" && left.value.length === 0), "gone from the public bucket, history and all");
    const priv = await kvm.open(BUCKETS.authPrivate.name);
    assert.equal((await priv.get("signing.private"))?.json<{ kid: string }>().kid, old.kid);
    assert.ok(await pub.get(`signing.public.${old.kid}`), "its public half published");
    // A second instance agrees on it, reading what the first created from the stream's leader (no replica's direct get).
    assert.equal((await loadSigningKey(nc)).kid, old.kid);
    assert.equal((await priv.status()).streamInfo.config.allow_direct, false);
  } finally {
    await nc.close();
  }
});
