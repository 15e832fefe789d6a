/**
 * Task records that always fit in a reply (issue 14, item 6). A valid task
 * can hold more than one NATS message: `uppercase` of 256 KiB of "ΐ" gives a
 * 768 KiB result, and input plus result passed `max_payload`, so `tasks.get`
 * and every `tasks.list` page holding it answered `internal`. A record now
 * carries what fits: the input is cut first (the client sent it), then the
 * result; a string keeps its longest prefix that fits, anything else is left
 * out; `input_truncated` / `result_truncated` say so. Lists are paged by size.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { TaskRecord } from "@colmena/protocol";
import { maxPayloadOf } from "@colmena/runtime";
import { toRecord, type TaskRow } from "./model.ts";

/** Room for the reply's headers (Colmena-Seq and the like) within max_payload. */
const HEADER_ROOM = 4096;

/** The bytes a reply body may take on this connection. */
export function replyBudget(nc: NatsConnection): number {
  return maxPayloadOf(nc) - HEADER_ROOM;
}

const jsonBytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? "null");

/** `value` within `maxBytes` of JSON: as it is, a string's longest prefix that fits, or undefined. */
export function fitValue(value: unknown, maxBytes: number): { value?: unknown; cut: boolean } {
  const bytes = jsonBytes(value);
  if (bytes <= maxBytes) return { value, cut: false };
  if (typeof value !== "string" || maxBytes < 2) return { cut: true };
  // JSON bytes grow with the prefix length: binary search for the longest prefix that fits.
  let lo = 0;
  let hi = Math.min(value.length, maxBytes);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (jsonBytes(value.slice(0, mid)) <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  const c = value.charCodeAt(lo - 1);
  if (c >= 0xd800 && c <= 0xdbff) lo--; // never half a surrogate pair
  return { value: value.slice(0, lo), cut: true };
}

/** A row's record in JSON bytes, from the stored JSON texts (no re-encoding of input or result). */
export function recordBytes(row: TaskRow): number {
  const { input: _i, result: _r, ...small } = toRecord({ ...row, input: "null", result: null });
  return jsonBytes(small) + 10 + Buffer.byteLength(row.input) + (row.result === null ? 0 : 11 + Buffer.byteLength(row.result));
}

/** The record of a row within `budget` bytes of JSON. */
export function fitRecord(row: TaskRow, budget: number): TaskRecord {
  const rec = toRecord(row);
  const total = recordBytes(row);
  if (total <= budget) return rec;
  const resultBytes = row.result === null ? 0 : Buffer.byteLength(row.result);
  const around = total - Buffer.byteLength(row.input) - resultBytes + 64; // the fields and the flags
  const input = fitValue(rec.input, Math.max(0, budget - around - resultBytes));
  rec.input = input.value ?? null;
  if (input.cut) rec.input_truncated = true;
  if (row.result !== null) {
    const result = fitValue(rec.result, budget - around - jsonBytes(rec.input));
    if (result.cut) {
      if (result.value === undefined) delete rec.result;
      else rec.result = result.value;
      rec.result_truncated = true;
    }
  }
  return rec;
}

/**
 * A page of records within `budget`: rows in order while the next one fits
 * whole; the first is always taken, cut to fit, so every page moves on.
 * `more` is true when the page stopped before the rows ran out.
 */
export function fitPage(rows: TaskRow[], budget: number): { records: TaskRecord[]; more: boolean } {
  const records: TaskRecord[] = [];
  let used = 64; // {"tasks":[...],"next":N}
  for (const row of rows) {
    const bytes = recordBytes(row) + 1;
    if (records.length > 0 && used + bytes > budget) return { records, more: true };
    records.push(fitRecord(row, budget - used));
    used += Math.min(bytes, budget - used);
  }
  return { records, more: false };
}
