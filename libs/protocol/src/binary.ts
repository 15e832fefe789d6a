/**
 * Binary fields (protocol.md section 7: `content`, `data`): raw bytes in
 * MessagePack frames, base64 in JSON ones. A MessagePack request reaches its
 * service as MessagePack (header `Colmena-Encoding: msgpack`) and is answered
 * in MessagePack, so bytes travel raw end to end; JSON requests and replies
 * carry base64. A schema field takes either form and gives a Buffer.
 */
import { z } from "zod";

/** The request header (and reply header) saying the body is MessagePack. */
export const MSGPACK_ENCODING = "msgpack";

const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, "bytes");

/** A binary request field of at most `maxBytes`: raw bytes or base64; parsed to a Buffer. */
export function binaryField(maxBytes: number) {
  const raw = bytes.refine((b) => b.byteLength <= maxBytes, `at most ${maxBytes} bytes`);
  const b64 = z.string().max(Math.ceil(maxBytes / 3) * 4 + 4).regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64");
  return z.union([raw, b64]).transform((v) => (typeof v === "string" ? Buffer.from(v, "base64") : Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
}

const utf8Encoder = new TextEncoder();

/** A string's UTF-8 bytes, the same on servers and in the browser (no Buffer). */
export function utf8Bytes(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

/** A string's UTF-8 length without encoding it; a lone surrogate counts 3, as its U+FFFD replacement (and Buffer.byteLength) does. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

/** A binary reply field: a Buffer from the service, raw in MessagePack and base64 in JSON. */
export const binaryReply = z.union([bytes, z.string()]);

/**
 * A JSON.stringify replacer writing bytes as base64. A function, not an
 * arrow: Buffer's toJSON runs before the replacer sees the value, so it looks
 * at the holder's original (`this[key]`).
 */
export function bytesAsBase64(this: unknown, key: string, v: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  return original instanceof Uint8Array ? Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString("base64") : v;
}
