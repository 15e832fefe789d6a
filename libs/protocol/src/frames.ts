/**
 * The frame envelope of protocol.md section 2: requests, replies and events.
 * `parseRequest` turns any decoded value into a request or a `bad_frame` error
 * with the id echoed whenever it could be read.
 */
import { ColmenaError, type ErrorBody, type ErrorCode } from "./errors.ts";

export type FrameId = string | number;

export interface RequestFrame {
  id: FrameId;
  op: string;
  data: Record<string, unknown>;
}
export type ReplyFrame =
  | { id: FrameId | null; ok: true; data: unknown }
  | { id: FrameId | null; ok: false; error: ErrorBody };
export interface EventFrame {
  event: string;
  data: unknown;
}
export type ServerFrame = ReplyFrame | EventFrame;

export const PROTOCOL_VERSION = 1;

export function isFrameId(v: unknown): v is FrameId {
  if (typeof v === "string") return v.length >= 1 && v.length <= 64;
  return typeof v === "number" && Number.isSafeInteger(v);
}

/** The id of a frame if it has a valid one, else null (for error replies). */
export function readId(v: unknown): FrameId | null {
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    const id = (v as { id?: unknown }).id;
    if (isFrameId(id)) return id;
  }
  return null;
}

/** An error found while reading a frame, before its op runs: it knows the frame's id, if one could be read. */
export class FrameError extends ColmenaError {
  constructor(readonly id: FrameId | null, message: string, code: ErrorCode = "bad_frame") {
    super(code, message);
  }
}

/**
 * How deep `data` may nest objects and arrays (data itself is level 1).
 * Checked before anything recursive sees the value: JSON.stringify,
 * MessagePack encoding and schema walks overflow the stack on a few thousand
 * levels, which no op needs.
 */
export const MAX_DATA_DEPTH = 64;

/** Whether `v` nests objects or arrays deeper than `max` levels; iterative, so any depth is safe here. */
export function nestsDeeperThan(v: unknown, max: number): boolean {
  const values: unknown[] = [v];
  const depths: number[] = [1];
  while (values.length > 0) {
    const x = values.pop();
    const d = depths.pop()!;
    if (x === null || typeof x !== "object" || ArrayBuffer.isView(x)) continue;
    if (d > max) return true;
    for (const child of Array.isArray(x) ? x : Object.values(x)) {
      if (child !== null && typeof child === "object") {
        values.push(child);
        depths.push(d + 1);
      }
    }
  }
  return false;
}

export function parseRequest(v: unknown): RequestFrame {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new FrameError(null, "a frame must be a JSON object");
  const f = v as { id?: unknown; op?: unknown; data?: unknown };
  const id = readId(f);
  if (id === null) throw new FrameError(null, "`id` must be a string of 1-64 characters or an integer");
  if (typeof f.op !== "string" || f.op.length === 0 || f.op.length > 128)
    throw new FrameError(id, "`op` must be a non-empty string");
  if (f.data !== undefined && (f.data === null || typeof f.data !== "object" || Array.isArray(f.data)))
    throw new FrameError(id, "`data` must be an object when present");
  if (f.data !== undefined && nestsDeeperThan(f.data, MAX_DATA_DEPTH))
    throw new FrameError(id, `\`data\` nests objects and arrays deeper than ${MAX_DATA_DEPTH} levels`, "bad_request");
  return { id, op: f.op, data: (f.data as Record<string, unknown> | undefined) ?? {} };
}

export const okReply = (id: FrameId | null, data: unknown): ReplyFrame => ({ id, ok: true, data });
export const errorReply = (id: FrameId | null, error: ErrorBody): ReplyFrame => ({ id, ok: false, error });
export const eventFrame = (event: string, data: unknown): EventFrame => ({ event, data });
