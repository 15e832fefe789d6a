/**
 * The protocol's errors as HTTP answers: the code's status (errors.ts,
 * `statusOf`) and `{"error": {code, message, ...}}` as JSON. One shape for a
 * handler's thrown error and for the gateway's own refusals (404, 401, 413).
 */
import type { ServerResponse } from "node:http";
import { ColmenaError, statusOf, type HttpAnswer } from "@colmena/protocol";

/** A ColmenaError as it stands; anything else `internal`, naming the id under which it was logged. */
export function asColmenaError(err: unknown, requestId: string): ColmenaError {
  if (err instanceof ColmenaError) return err;
  return new ColmenaError("internal", `internal error (request ${requestId})`);
}

/** The answer for an error: its status, the JSON body, `Retry-After` when the error says when. */
export function errorAnswer(err: ColmenaError, extra: Record<string, string> = {}): HttpAnswer & { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ error: err.toBody() });
  const headers: Record<string, string> = {
    ...extra,
    "Content-Type": "application/json",
    "Content-Length": String(Buffer.byteLength(body)),
    "Cache-Control": "no-store",
  };
  if (err.retryAfterMs !== undefined) headers["Retry-After"] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
  return { status: statusOf(err.code), headers, body };
}

/**
 * Writes an error answer (`status` overrides the code's, e.g. 405 for
 * `bad_request`), or destroys the socket when a response had begun already
 * (nothing else is honest then).
 */
export function writeHttpError(res: ServerResponse, err: ColmenaError, extra?: Record<string, string>, status?: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const a = errorAnswer(err, extra);
  res.writeHead(status ?? a.status, a.headers);
  res.end(a.body);
}

/**
 * How long an EventSource waits before it reconnects to a stream that no
 * replica could serve (`writeSseRetry`), as the notify streams' own `retry:`.
 */
export const SSE_UNAVAILABLE_RETRY_MS = 2000;

/**
 * `unavailable` to a Server-Sent Events client: 200 with a `retry:` field and
 * a comment naming the error, then the end of the stream. An EventSource that
 * gets a 503 fails for good (the HTML standard reconnects only after a network
 * error or the end of a 200 event stream); this way it reconnects after
 * `retryMs`, with its Last-Event-ID, until a replica serves it again. Other
 * clients keep the 503.
 */
export function writeSseRetry(res: ServerResponse, err: ColmenaError, retryMs: number, extra: Record<string, string> = {}): void {
  const body = `retry: ${retryMs}\n: ${err.code}: ${err.message.replace(/[\r\n]+/gu, " ")}\n\n`;
  res.writeHead(200, { ...extra, "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "Content-Length": String(Buffer.byteLength(body)) });
  res.end(body);
}
