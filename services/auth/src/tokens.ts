/**
 * Refresh tokens are opaque: `<family id>.<secret>`, both base64url. Only the
 * sha256 of the current token of a family is stored, so the stream never holds
 * a usable token. The family id names the family's subject in the stream and
 * travels in the access token (`fam`), so logout can find it.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const FAMILY_RE = /^[A-Za-z0-9_-]{22}$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

/** A fresh family id: 16 random bytes, base64url (22 characters). */
export function newFamilyId(): string {
  return randomBytes(16).toString("base64url");
}

/** Checks a family id before it goes into a subject (it can arrive in a header). */
export function isFamilyId(s: unknown): s is string {
  return typeof s === "string" && FAMILY_RE.test(s);
}

/** A fresh refresh token of a family: the family id and 32 random bytes. */
export function newRefreshToken(familyId: string): string {
  return `${familyId}.${randomBytes(32).toString("base64url")}`;
}

/** The family of a well-formed refresh token, or null. */
export function familyOf(token: string): string | null {
  const dot = token.indexOf(".");
  if (dot < 0) return null;
  const family = token.slice(0, dot);
  return FAMILY_RE.test(family) && SECRET_RE.test(token.slice(dot + 1)) ? family : null;
}

/** What the stream keeps of a refresh token. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

/** Compares two token hashes in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
