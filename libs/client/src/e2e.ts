/**
 * End-to-end encryption of chat payloads (`ciphertext` + `enc` of
 * protocol.md section 6), with WebCrypto only (X25519, HKDF-SHA256,
 * AES-256-GCM on globalThis.crypto.subtle), so that the very same code runs
 * in Node 20 and in the browser: the CLI and the web page read each other's
 * messages. The format ("colmena-e2e-v1") is specified in
 * services/chat/README.md, "End-to-end encryption"; change both together.
 *
 * A message is encrypted once under a random content key; the content key is
 * wrapped for every recipient key (the sender's own included, so its other
 * devices and its history can read it) under a key derived from static-static
 * X25519 between the sender's key and the recipient's, so only the holder of
 * the sender's private key could have made a wrap the recipient accepts.
 * Associated data binds the room, the sender and the nonce: a ciphertext
 * moved to another room or attributed to another user fails to decrypt.
 */

export const E2E_VERSION = "colmena-e2e-v1";
const subtle = globalThis.crypto.subtle;
const X25519 = { name: "X25519" } as const;
/** WebCrypto's CryptoKey, named through the API so that neither the DOM nor the Node typings are needed. */
export type E2eCryptoKey = Awaited<ReturnType<typeof subtle.importKey>>;

/** A user's key pair; `keyId` and `publicKey` are what `chat.keys.publish` takes. */
export interface E2eKeyPair { keyId: string; publicKey: string; privateKey: E2eCryptoKey; publicCryptoKey: E2eCryptoKey }
/** One published key of one user (from `chat.keys.get`). */
export interface E2eRecipient { username: string; key_id: string; public_key: string }
/** One wrap of the content key, for one recipient key. */
export interface E2eWrap { to: string; key_id: string; wrap: string }
/** The `enc` object of an encrypted message. */
export interface E2eEnc { v: typeof E2E_VERSION; sender_key: string; nonce: string; salt: string; keys: E2eWrap[] }
/** What `chat.send` / `chat.dm` take for an encrypted message. */
export interface E2ePayload { ciphertext: string; enc: E2eEnc }
/**
 * Bytes over a plain ArrayBuffer: what WebCrypto's BufferSource takes under
 * the DOM typings (a Uint8Array over ArrayBufferLike may be shared memory).
 */
type Bytes = Uint8Array<ArrayBuffer>;
/** Finds a sender's public key (base64 raw X25519) by username and key id, e.g. through `chat.keys.get`. */
export type SenderKeyLookup = (username: string, keyId: string) => Promise<string | undefined>;

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
export function fromBase64(text: string): Bytes {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
const utf8 = (s: string): Bytes => new TextEncoder().encode(s) as Bytes;
const random = (n: number): Bytes => globalThis.crypto.getRandomValues(new Uint8Array(n));

/** `x1-` and the first 16 bytes of SHA-256 of the raw public key, base64url: stable, fits chat.keys.publish's key_id. */
export async function keyIdOf(rawPublic: Bytes): Promise<string> {
  const h = new Uint8Array(await subtle.digest("SHA-256", rawPublic)).subarray(0, 16);
  return "x1-" + toBase64(h).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function pairFrom(privateKey: E2eCryptoKey, publicCryptoKey: E2eCryptoKey): Promise<E2eKeyPair> {
  const raw = new Uint8Array(await subtle.exportKey("raw", publicCryptoKey));
  return { keyId: await keyIdOf(raw), publicKey: toBase64(raw), privateKey, publicCryptoKey };
}

/** A new key pair; the private key is extractable so that it can be saved (`exportPrivateKey`). */
export async function generateKeyPair(): Promise<E2eKeyPair> {
  const k = (await subtle.generateKey(X25519, true, ["deriveBits"])) as { privateKey: E2eCryptoKey; publicKey: E2eCryptoKey };
  return pairFrom(k.privateKey, k.publicKey);
}

/** The private key as base64 PKCS#8 (what the CLI keeps in $COLMENA_HOME, mode 0600). */
export async function exportPrivateKey(pair: E2eKeyPair): Promise<string> {
  return toBase64(new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey)));
}

/** A key pair from its saved private key (base64 PKCS#8) and public key (base64 raw). */
export async function importKeyPair(privatePkcs8: string, publicKey: string): Promise<E2eKeyPair> {
  const priv = await subtle.importKey("pkcs8", fromBase64(privatePkcs8), X25519, true, ["deriveBits"]);
  return pairFrom(priv, await importPublic(publicKey));
}

function importPublic(publicKey: string): Promise<E2eCryptoKey> {
  const raw = fromBase64(publicKey);
  if (raw.length !== 32) throw new Error("e2e: an X25519 public key is 32 bytes");
  return subtle.importKey("raw", raw, X25519, true, []);
}

/** The associated data of both the content and the wraps: version, room, sender, sender key, nonce. */
function associatedData(room: string, from: string, senderKey: string, nonce: string): Bytes {
  return utf8([E2E_VERSION, room, from, senderKey, nonce].join("\n"));
}

/** The AES-256-GCM key wrapping the content key between two X25519 keys, unique per message through `salt`. */
async function wrapKey(own: E2eCryptoKey, peerPublic: string, salt: Bytes, senderKey: string, recipientKey: string): Promise<E2eCryptoKey> {
  const shared = await subtle.deriveBits({ name: "X25519", public: await importPublic(peerPublic) }, own, 256);
  const ikm = await subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  return subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt, info: utf8(`${E2E_VERSION} wrap\n${senderKey}\n${recipientKey}`) },
    ikm, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"],
  );
}

/**
 * Encrypts `text` from `from` (holding `sender`) to `room` for every key in
 * `recipients` (all keys of all members; the sender's own key is added when
 * missing). Returns the `ciphertext` and `enc` of the send.
 */
export async function encryptMessage(text: string, opts: { room: string; from: string; sender: E2eKeyPair; recipients: E2eRecipient[] }): Promise<E2ePayload> {
  const { room, from, sender } = opts;
  const recipients = [...opts.recipients];
  if (!recipients.some((r) => r.key_id === sender.keyId)) recipients.push({ username: from, key_id: sender.keyId, public_key: sender.publicKey });
  const nonceBytes = random(12);
  const nonce = toBase64(nonceBytes);
  const salt = random(16);
  const ad = associatedData(room, from, sender.keyId, nonce);
  const content = random(32);
  const contentKey = await subtle.importKey("raw", content, "AES-GCM", false, ["encrypt"]);
  const body = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: nonceBytes, additionalData: ad }, contentKey, utf8(text)));
  const keys: E2eWrap[] = [];
  for (const r of recipients) {
    const kek = await wrapKey(sender.privateKey, r.public_key, salt, sender.keyId, r.key_id);
    const iv = random(12);
    const sealed = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: ad }, kek, content));
    const wrap = new Uint8Array(12 + sealed.length);
    wrap.set(iv);
    wrap.set(sealed, 12);
    keys.push({ to: r.username, key_id: r.key_id, wrap: toBase64(wrap) });
  }
  content.fill(0);
  return { ciphertext: toBase64(body), enc: { v: E2E_VERSION, sender_key: sender.keyId, nonce, salt: toBase64(salt), keys } };
}

/** True when `enc` looks like this format (any other `enc` is someone else's and left alone). */
export function isE2eEnc(enc: unknown): enc is E2eEnc {
  const e = enc as E2eEnc | undefined;
  return !!e && e.v === E2E_VERSION && typeof e.sender_key === "string" && typeof e.nonce === "string"
    && typeof e.salt === "string" && Array.isArray(e.keys);
}

/**
 * Decrypts a received message (`room`, `from` as the server stamped them)
 * with `own`. Throws when the message has no wrap for `own`, the sender's key
 * is unknown, or anything was altered (room, sender, nonce, wrap or body).
 */
export async function decryptMessage(msg: { room: string; from: string; ciphertext: string; enc: unknown }, own: E2eKeyPair, senderKey: SenderKeyLookup): Promise<string> {
  if (!isE2eEnc(msg.enc)) throw new Error(`e2e: not a ${E2E_VERSION} message`);
  const enc = msg.enc;
  const mine = enc.keys.find((k) => k.key_id === own.keyId);
  if (!mine) throw new Error("e2e: the message was not encrypted for this key");
  // Our own message (from this or another of our devices with this key) needs no look-up.
  const senderPublic = enc.sender_key === own.keyId ? own.publicKey : await senderKey(msg.from, enc.sender_key);
  if (!senderPublic) throw new Error(`e2e: no public key ${enc.sender_key} of ${msg.from}`);
  const ad = associatedData(msg.room, msg.from, enc.sender_key, enc.nonce);
  const kek = await wrapKey(own.privateKey, senderPublic, fromBase64(enc.salt), enc.sender_key, own.keyId);
  const wrap = fromBase64(mine.wrap);
  const content = await subtle.decrypt({ name: "AES-GCM", iv: wrap.subarray(0, 12), additionalData: ad }, kek, wrap.subarray(12));
  const contentKey = await subtle.importKey("raw", content, "AES-GCM", false, ["decrypt"]);
  const text = await subtle.decrypt({ name: "AES-GCM", iv: fromBase64(enc.nonce), additionalData: ad }, contentKey, fromBase64(msg.ciphertext));
  return new TextDecoder("utf-8", { fatal: true }).decode(text);
}

/**
 * A `SenderKeyLookup` over `chat.keys.get` with a cache (keys are looked up
 * once per user, again when an unknown key id shows up).
 */
export function keyDirectory(request: (op: string, data: Record<string, unknown>) => Promise<unknown>): SenderKeyLookup & { recipients(usernames: string[]): Promise<E2eRecipient[]> } {
  const cache = new Map<string, { key_id: string; public_key: string }[]>();
  const keysOf = async (username: string, fresh: boolean) => {
    if (fresh || !cache.has(username)) {
      const r = (await request("chat.keys.get", { username })) as { keys: { key_id: string; public_key: string }[] };
      cache.set(username, r.keys);
    }
    return cache.get(username)!;
  };
  const lookup = async (username: string, keyId: string) =>
    ((await keysOf(username, false)).find((k) => k.key_id === keyId) ?? (await keysOf(username, true)).find((k) => k.key_id === keyId))?.public_key;
  return Object.assign(lookup, {
    /** Every published key of every user in `usernames`, fresh (for encrypting). */
    async recipients(usernames: string[]): Promise<E2eRecipient[]> {
      const out: E2eRecipient[] = [];
      for (const u of usernames) for (const k of await keysOf(u, true)) out.push({ username: u, ...k });
      return out;
    },
  });
}
