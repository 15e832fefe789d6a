/**
 * `POST`/`PUT /v1/notify/<topic>` (protocol.md section 8, the conventions of
 * ntfy): the body is the notification's text and the `Title` header its
 * title (default: the topic), or, with `Content-Type: application/json`,
 * `{title, body?, data?}`. The same path as `notify.publish`: its schema,
 * reserved topics `forbidden`, its errors with their HTTP statuses.
 */
import { ColmenaError, notifyOps, parseWith, unauthorized, type HttpAnswer, type HttpCall, type HttpHandler } from "@colmena/protocol";
import type { NotePublisher } from "./api.ts";

/** A text body: the op's `body` limit. */
export const MAX_TEXT_BODY = 16 * 1024;
/** A JSON body: title, body and a little `data`; a notification is small. */
export const MAX_JSON_BODY = 64 * 1024;

const tooLarge = (limit: number) => new ColmenaError("frame_too_large", `a notification body is at most ${limit} bytes`);

/** The whole request body, refusing (413) beyond `limit` bytes without reading the rest. */
async function readBounded(call: HttpCall, limit: number): Promise<Buffer> {
  const declared = Number(call.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of call.body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

function topicOf(call: HttpCall): string {
  try {
    return decodeURIComponent(call.path);
  } catch {
    throw new ColmenaError("bad_request", "the topic in the path is not valid percent-encoding");
  }
}

/** The op's request from the HTTP request (validated by the caller with the op's schema). */
async function requestOf(call: HttpCall): Promise<unknown> {
  const topic = topicOf(call);
  const json = /^application\/json\b/i.test(call.headers["content-type"] ?? "");
  if (!json) {
    const text = (await readBounded(call, MAX_TEXT_BODY)).toString("utf8");
    return { topic, title: call.headers.title || topic, ...(text.length > 0 ? { body: text } : {}) };
  }
  const raw = (await readBounded(call, MAX_JSON_BODY)).toString("utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ColmenaError("bad_request", "the body is not JSON (Content-Type: application/json)");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ColmenaError("bad_request", "the JSON body must be an object {title, body?, data?}");
  return { ...(parsed as Record<string, unknown>), topic };
}

export function httpPublish(notes: NotePublisher): HttpHandler {
  return async (call): Promise<HttpAnswer> => {
    if (!call.user) throw unauthorized("an access token is required (Authorization: Bearer <access_token>)");
    const data = parseWith(notifyOps["notify.publish"].request, await requestOf(call));
    const r = await notes.publishAs(call.user, data);
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ notification_id: r.notification_id, recipients: r.recipients }),
    };
  };
}
