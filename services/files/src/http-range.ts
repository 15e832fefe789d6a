/**
 * `Range: bytes=...` for one representation (RFC 9110 section 14): a single
 * range, `a-b`, `a-` or the suffix `-n`. Several ranges, another unit or bad
 * syntax are ignored (the whole file is sent, as the RFC allows); a range
 * that starts past the end is unsatisfiable (416).
 */

/** Inclusive byte positions, as in Content-Range. */
export interface ByteSpan {
  first: number;
  last: number;
}

export type RangeAsk = { kind: "whole" } | { kind: "span"; span: ByteSpan } | { kind: "unsatisfiable" };

const DIGITS = /^\d+$/u;

export function parseRange(header: string | undefined, size: number): RangeAsk {
  if (!header) return { kind: "whole" };
  const m = /^\s*bytes\s*=\s*([^,]*)$/iu.exec(header);
  if (!m) return { kind: "whole" };
  const [from, to, extra] = m[1].trim().split("-");
  if (extra !== undefined || from === undefined || to === undefined) return { kind: "whole" };
  if (from === "") {
    // The last n bytes.
    if (!DIGITS.test(to)) return { kind: "whole" };
    const n = Number(to);
    if (n === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "span", span: { first: Math.max(size - n, 0), last: size - 1 } };
  }
  if (!DIGITS.test(from) || (to !== "" && !DIGITS.test(to))) return { kind: "whole" };
  const first = Number(from);
  const last = to === "" ? size - 1 : Math.min(Number(to), size - 1);
  if (to !== "" && Number(to) < first) return { kind: "whole" };
  if (first >= size) return { kind: "unsatisfiable" };
  return { kind: "span", span: { first, last } };
}

/** Whether an `If-None-Match` list names this strong ETag (weak comparison, as the RFC asks for this header). */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//u, "") === etag);
}
