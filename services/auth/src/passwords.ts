/**
 * Password hashing with scrypt (memory-hard, never a fast hash). Each hash
 * keeps its own salt and cost parameters, so the cost can rise later without
 * invalidating old hashes.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/** A stored password hash: scrypt parameters, salt and derived key (base64url). */
export interface PasswordHash {
  alg: "scrypt";
  n: number;
  r: number;
  p: number;
  salt: string;
  hash: string;
}

const KEY_LEN = 32;
const R = 8;
const P = 1;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes; raise maxmem above node's 32 MiB default when N is large.
  const opts: ScryptOptions = { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes a password with a fresh random 16-byte salt. */
export async function hashPassword(password: string, n: number): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, n, R, P);
  return { alg: "scrypt", n, r: R, p: P, salt: salt.toString("base64url"), hash: key.toString("base64url") };
}

/** True when `password` matches; compares in constant time. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  if (stored.alg !== "scrypt") return false;
  const expected = Buffer.from(stored.hash, "base64url");
  const key = await derive(password, Buffer.from(stored.salt, "base64url"), stored.n, stored.r, stored.p);
  return key.length === expected.length && timingSafeEqual(key, expected);
}
