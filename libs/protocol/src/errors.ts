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
 */
export class ColmenaError extends Error {
  override name = "ColmenaError";
  readonly code: ErrorCode;
  readonly details?: unknown;
  readonly retryAfterMs?: number;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: ColmenaErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.details = opts.details;
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
