/**
 * The tus 1.0.0 wire details (tus.io, protocol.md section 7): the headers the
 * server announces, `Upload-Metadata` and `Upload-Checksum` parsing, and the
 * answers, errors carrying the protocol's `{"error": {code, message}}`.
 */
import type { HttpAnswer } from "@colmena/protocol";

export const TUS_VERSION = "1.0.0";
export const TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration";
export const TUS_CONTENT_TYPE = "application/offset+octet-stream";
/** tus's status for a body whose `Upload-Checksum` does not match. */
export const CHECKSUM_MISMATCH = 460;

export function tusError(status: number, code: string, message: string, headers: Record<string, string> = {}): HttpAnswer {
  return { status, headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify({ error: { code, message } }) };
}

/** `key base64value` pairs, comma-separated (a key alone has an empty value); null when malformed. */
export function parseMetadata(header: string | undefined): Map<string, string> | null {
  const out = new Map<string, string>();
  if (!header || header.trim() === "") return out;
  for (const pair of header.split(",")) {
    const [key, value, extra] = pair.trim().split(/ +/u);
    if (!key || extra !== undefined || !/^[\x21-\x7e]+$/u.test(key) || out.has(key)) return null;
    if (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/u.test(value)) return null;
    out.set(key, Buffer.from(value ?? "", "base64").toString("utf8"));
  }
  return out;
}

/** `Upload-Checksum: sha256 <base64 digest>`: the digest, or why the header is refused. */
export function parseChecksum(header: string): { digest: Buffer } | { problem: string } {
  const [algorithm, value, extra] = header.trim().split(/ +/u);
  if (algorithm !== "sha256") return { problem: `the checksum algorithm ${algorithm ?? ""} is not supported (Tus-Checksum-Algorithm: sha256)` };
  const digest = Buffer.from(value ?? "", "base64");
  if (extra !== undefined || digest.length !== 32) return { problem: "Upload-Checksum is `sha256 <base64 of 32 bytes>`" };
  return { digest };
}

/** A non-negative integer header, or null. */
export function intHeader(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,16}$/u.test(value.trim())) return null;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : null;
}

export const httpDate = (ms: number) => new Date(ms).toUTCString();
