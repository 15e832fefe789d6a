import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decryptMessage, encryptMessage, exportPrivateKey, generateKeyPair, importKeyPair, type E2eEnc, type E2eKeyPair,
} from "../src/e2e.ts";

const users = ["alice", "bob", "carol"];

async function members(): Promise<Map<string, E2eKeyPair>> {
  const m = new Map<string, E2eKeyPair>();
  for (const u of users) m.set(u, await generateKeyPair());
  return m;
}
const lookupIn = (m: Map<string, E2eKeyPair>) => async (u: string, keyId: string) =>
  m.get(u)?.keyId === keyId ? m.get(u)!.publicKey : undefined;
const recipientsOf = (m: Map<string, E2eKeyPair>) => [...m].map(([username, k]) => ({ username, key_id: k.keyId, public_key: k.publicKey }));

test("e2e - a message encrypted for three members decrypts for each, and the plaintext is in neither ciphertext nor enc", async () => {
  const m = await members();
  const text = "meet at the hive, 9pm ✓";
  const p = await encryptMessage(text, { room: "r1", from: "alice", sender: m.get("alice")!, recipients: recipientsOf(m) });
  assert.equal(p.enc.keys.length, 3);
  const wire = JSON.stringify(p);
  assert.ok(!wire.includes("hive"));
  for (const u of users) {
    assert.equal(await decryptMessage({ room: "r1", from: "alice", ...p }, m.get(u)!, lookupIn(m)), text);
  }
});

test("e2e - the sender's own key is always wrapped, so its history reads back", async () => {
  const m = await members();
  const bob = m.get("bob")!;
  const p = await encryptMessage("to bob only", { room: "dm-x", from: "alice", sender: m.get("alice")!, recipients: [{ username: "bob", key_id: bob.keyId, public_key: bob.publicKey }] });
  assert.equal(p.enc.keys.length, 2);
  assert.equal(await decryptMessage({ room: "dm-x", from: "alice", ...p }, m.get("alice")!, lookupIn(m)), "to bob only");
  await assert.rejects(decryptMessage({ room: "dm-x", from: "alice", ...p }, m.get("carol")!, lookupIn(m)), /not encrypted for this key/);
});

test("e2e - tampering with the body, the room, the sender, the nonce or a wrap fails", async () => {
  const m = await members();
  const p = await encryptMessage("secret", { room: "r1", from: "alice", sender: m.get("alice")!, recipients: recipientsOf(m) });
  const bob = m.get("bob")!;
  const flip = (b64: string) => { const b = Buffer.from(b64, "base64"); b[b.length - 1] ^= 1; return b.toString("base64"); };
  const cases: [string, Parameters<typeof decryptMessage>[0]][] = [
    ["body", { room: "r1", from: "alice", ciphertext: flip(p.ciphertext), enc: p.enc }],
    ["room", { room: "r2", from: "alice", ...p }],
    ["nonce", { room: "r1", from: "alice", ciphertext: p.ciphertext, enc: { ...p.enc, nonce: flip(p.enc.nonce) } }],
    ["wrap", { room: "r1", from: "alice", ciphertext: p.ciphertext, enc: { ...p.enc, keys: p.enc.keys.map((k) => ({ ...k, wrap: flip(k.wrap) })) } satisfies E2eEnc }],
    ["salt", { room: "r1", from: "alice", ciphertext: p.ciphertext, enc: { ...p.enc, salt: flip(p.enc.salt) } }],
  ];
  for (const [what, msg] of cases) await assert.rejects(decryptMessage(msg, bob, lookupIn(m)), `tampered ${what} must fail`);
  // Re-stamped as carol's: carol's key derives another wrap key, and the associated data names alice.
  const asCarol = { ...p.enc, sender_key: m.get("carol")!.keyId };
  await assert.rejects(decryptMessage({ room: "r1", from: "carol", ciphertext: p.ciphertext, enc: asCarol }, bob, lookupIn(m)));
  await assert.rejects(decryptMessage({ room: "r1", from: "carol", ...p }, bob, lookupIn(m)), /no public key/);
});

test("e2e - a key pair saved and loaded again decrypts what was sent to it", async () => {
  const m = await members();
  const bob = m.get("bob")!;
  const again = await importKeyPair(await exportPrivateKey(bob), bob.publicKey);
  assert.equal(again.keyId, bob.keyId);
  assert.match(again.keyId, /^[A-Za-z0-9_.-]{1,64}$/);
  const p = await encryptMessage("kept", { room: "r1", from: "alice", sender: m.get("alice")!, recipients: recipientsOf(m) });
  assert.equal(await decryptMessage({ room: "r1", from: "alice", ...p }, again, lookupIn(m)), "kept");
});
