/**
 * Encryption at rest: AES-256-GCM in segments. Every blob has its own random
 * data key, wrapped (AES-256-GCM too) by the master key `COLMENA_FILES_KEY`;
 * every segment of (at most) 64 KiB of plaintext is sealed on its own, with
 * a random nonce and its tag, and authenticated with its blob, the offset of
 * its first byte in the blob and whether it ends the blob, so a range
 * decrypts without the rest, and a segment that was altered, moved to
 * another place or blob, or cut off fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ColmenaError } from "@colmena/protocol";

/** Plaintext bytes per segment. */
export const SEGMENT = 64 * 1024;
const NONCE = 12;
const TAG = 16;
/** What sealing adds to a segment: its nonce and its tag. */
export const SEAL_OVERHEAD = NONCE + TAG;

const aad = (blobId: string, offset: number, last: boolean) => Buffer.from(`${blobId}:${offset}:${last ? 1 : 0}`);

/** The sealed size of `plain` bytes cut into segments (an empty part is one empty segment). */
export const sealedLength = (plain: number) => plain + Math.max(1, Math.ceil(plain / SEGMENT)) * SEAL_OVERHEAD;

/**
 * Seals `plain`, whose first byte is at `offset` in the blob, as segments of
 * SEGMENT bytes (the last one shorter) written one after another into one
 * buffer (a part of the blob): nonce | ciphertext | tag, each. `endsBlob`
 * marks its last segment as the blob's last.
 */
export function sealPart(key: Buffer, blobId: string, offset: number, plain: Uint8Array, endsBlob: boolean): Buffer {
  const out = Buffer.allocUnsafe(sealedLength(plain.length));
  let at = 0;
  let from = 0;
  do {
    const to = Math.min(from + SEGMENT, plain.length);
    const nonce = randomBytes(NONCE);
    const c = createCipheriv("aes-256-gcm", key, nonce);
    c.setAAD(aad(blobId, offset + from, endsBlob && to === plain.length));
    at += nonce.copy(out, at);
    at += c.update(plain.subarray(from, to)).copy(out, at);
    at += c.final().copy(out, at);
    at += c.getAuthTag().copy(out, at);
    from = to;
  } while (from < plain.length);
  return out;
}

/** The plaintext of one sealed segment found at `offset` of the blob; `internal` when it does not authenticate (never its bytes). */
export function openSegment(key: Buffer, blobId: string, offset: number, last: boolean, sealed: Buffer): Buffer {
  try {
    if (sealed.length < SEAL_OVERHEAD) throw new Error("short segment");
    const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, NONCE));
    d.setAAD(aad(blobId, offset, last));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    const plain = d.update(sealed.subarray(NONCE, sealed.length - TAG));
    d.final();
    return plain;
  } catch (cause) {
    throw new ColmenaError("internal", `stored data failed its integrity check (blob ${blobId}, segment at ${offset})`, { cause });
  }
}

/** A data key sealed by the master key, bound to what it encrypts. */
export function wrapKey(master: Buffer, key: Buffer, binding: string): string {
  const nonce = randomBytes(NONCE);
  const c = createCipheriv("aes-256-gcm", master, nonce);
  c.setAAD(Buffer.from(binding));
  return Buffer.concat([nonce, c.update(key), c.final(), c.getAuthTag()]).toString("base64");
}

export function unwrapKey(master: Buffer, wrapped: string, binding: string): Buffer {
  try {
    const b = Buffer.from(wrapped, "base64");
    const d = createDecipheriv("aes-256-gcm", master, b.subarray(0, NONCE));
    d.setAAD(Buffer.from(binding));
    d.setAuthTag(b.subarray(b.length - TAG));
    return Buffer.concat([d.update(b.subarray(NONCE, b.length - TAG)), d.final()]);
  } catch (cause) {
    throw new ColmenaError("internal", "a blob's data key did not unwrap (another master key, or altered metadata)", { cause });
  }
}

/** The master key from its 64 hex digits. */
export function masterKeyOf(hex: string): Buffer {
  const k = Buffer.from(hex, "hex");
  if (k.length !== 32) throw new Error("the files master key must be 32 bytes (64 hex digits)");
  return k;
}
