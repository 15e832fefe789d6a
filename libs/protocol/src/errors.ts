/**
 * The error-code registry of protocol.md section 3: the single place where a
 * wire error code is defined, with its numeric form for `Nats-Service-Error-Code`
 * (NATS micro services carry a number there) and whether a worker should retry.
 */
export const ErrorCodes = {
  bad_frame: { status: 406, retryable: false, description: "not JSON, not an object, or no valid `id`/`op`" },
  frame_too_large: { status: 413, retryable: false, description: "over the frame size limit" },
  unknown_op: { status: 501, retryable: false, description: "no such operation" },
  bad_request: { status: 400, retryable: false, description: "`data` fails validation; `details` lists each failing field with its path" },
  unauthorized: { status: 401, retryable: false, description: "not logged in, bad credentials, bad or expired token" },
  forbidden: { status: 403, retryable: false, description: "logged in, but not allowed" },
  not_found: { status: 404, retryable: false, description: "no such room, task, file, user, version or upload" },
  conflict: { status: 409, retryable: true, description: "already exists, or a concurrent change won" },
  quota_exceeded: { status: 507, retryable: false, description: "over a storage or size quota" },
  rate_limited: { status: 429, retryable: true, description: "too many requests; `retry_after_ms` says when to retry" },
  unavailable: { status: 503, retryable: true, description: "the service behind the op did not answer (no instance running, or it is restarting)" },
  timeout: { status: 504, retryable: true, description: "the op did not finish in time (the result may still come later, e.g. a task)" },
  internal: { status: 500, retryable: true, description: "a bug; the message carries a request id that appears in the server logs" },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;
export const ERROR_CODES = Object.keys(ErrorCodes) as ErrorCode[];

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === "string" && Object.hasOwn(ErrorCodes, s);
}

/** The numeric status for `Nats-Service-Error-Code`, and back. */
export function statusOf(code: ErrorCode): number {
  return ErrorCodes[code].status;
}
export function codeOfStatus(status: number): ErrorCode {
  for (const code of ERROR_CODES) if (ErrorCodes[code].status === status) return code;
  return "internal";
}

/** The `error` object of an error reply frame. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
  retry_after_ms?: number;
}

/**
 * Bounds on what an error carries. A message or a details list is often built
 * from client input (a field name, a zod issue); a hostile `data` must not
 * make a reply larger than what it came in (or than a NATS message may be).
 */
export const ERROR_LIMITS = { messageChars: 1000, detailsChars: 16 * 1024 } as const;

/** `text` cut to `max` characters (never inside a surrogate pair), with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return text.slice(0, end) + "…";
}

/**
 * `details` if its JSON fits the bound; a list that does not fit keeps the
 * items that do; anything else too large (or not serialisable) is dropped.
 */
export function boundDetails(details: unknown, maxChars: number = ERROR_LIMITS.detailsChars): unknown {
  if (details === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(details);
  } catch {
    return undefined; // cyclic, too deep, or a BigInt: not for the wire
  }
  if (text === undefined || text.length <= maxChars) return details;
  if (!Array.isArray(details)) return undefined;
  const kept: unknown[] = [];
  let used = 2;
  for (const item of details) {
    const n = (JSON.stringify(item) ?? "null").length + 1;
    if (used + n > maxChars) break;
    kept.push(item);
    used += n;
  }
  return kept;
}

export interface ColmenaErrorOptions {
  details?: unknown;
  retryAfterMs?: number;
  cause?: unknown;
  retryable?: boolean;
}

/**
 * An error that crosses the wire: it carries a protocol error code. Anything
 * thrown that is not a ColmenaError becomes `internal` at the edge.
 * `retryable` decides between a delayed `nak` and a `term` in work consumers.
 * Its message and details are bounded (ERROR_LIMITS), whatever built them.
 */
export class ColmenaError extends Error {
  override name = "ColmenaError";
  readonly code: ErrorCode;
  readonly details?: unknown;
  readonly retryAfterMs?: number;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: ColmenaErrorOptions = {}) {
    super(clip(String(message), ERROR_LIMITS.messageChars), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.details = boundDetails(opts.details);
    this.retryAfterMs = opts.retryAfterMs;
    this.retryable = opts.retryable ?? ErrorCodes[code].retryable;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.details !== undefined) body.details = this.details;
    if (this.retryAfterMs !== undefined) body.retry_after_ms = this.retryAfterMs;
    return body;
  }

  static fromBody(body: ErrorBody): ColmenaError {
    return new ColmenaError(isErrorCode(body.code) ? body.code : "internal", String(body.message ?? ""), {
      details: body.details,
      retryAfterMs: body.retry_after_ms,
    });
  }

  static is(err: unknown, code?: ErrorCode): err is ColmenaError {
    return err instanceof ColmenaError && (code === undefined || err.code === code);
  }
}

/** Shorthands for the errors services raise most. */
export const badRequest = (message: string, details?: unknown) => new ColmenaError("bad_request", message, { details });
export const notFound = (message: string) => new ColmenaError("not_found", message);
export const forbidden = (message: string) => new ColmenaError("forbidden", message);
export const conflict = (message: string, details?: unknown) => new ColmenaError("conflict", message, { details });
export const unauthorized = (message: string) => new ColmenaError("unauthorized", message);
