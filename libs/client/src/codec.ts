/**
 * Frame encodings of protocol.md section 1: JSON text (one frame per line on
 * TCP, one per text message on WebSocket) and MessagePack (one per binary
 * WebSocket message, answered in kind).
 */
import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import type { ServerFrame } from "@colmena/protocol";

export type Codec = "json" | "msgpack";

const utf8 = new TextDecoder();

/** One request frame as it goes on the wire. */
export interface OutgoingFrame {
  id: string | number;
  op: string;
  data?: unknown;
}

export function encodeJson(frame: OutgoingFrame): string {
  return JSON.stringify(frame);
}

export function encodeMsgpack(frame: OutgoingFrame): Uint8Array {
  return msgpackEncode(frame);
}

/** A server frame from text or bytes; null when it is not an object (a server bug, ignored). */
export function decodeFrame(payload: string | Uint8Array, codec: Codec): ServerFrame | null {
  let v: unknown;
  try {
    v = codec === "msgpack" && typeof payload !== "string" ? msgpackDecode(payload) : JSON.parse(typeof payload === "string" ? payload : utf8.decode(payload));
  } catch {
    return null;
  }
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as ServerFrame) : null;
}

/**
 * Splits a TCP byte stream into lines: keeps the partial tail between chunks,
 * accepts `\r\n`, skips blank lines.
 */
export class LineSplitter {
  private tail = "";
  private readonly decoder = new TextDecoder();

  push(chunk: Uint8Array): string[] {
    const text = this.tail + this.decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    this.tail = parts.pop() ?? "";
    return parts.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l)).filter((l) => l.trim() !== "");
  }
}
