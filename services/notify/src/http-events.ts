/**
 * `GET /v1/notify/events` (protocol.md section 8): the caller's inbox as a
 * stream, Server-Sent Events with `Accept: text/event-stream`, else one
 * notification as JSON per line (NDJSON; blank lines are keep-alives).
 *
 * The live source is this replica's read model, not the push channel: every
 * replica folds every notification in stream order, so whichever replica
 * serves the stream sees each one in its inbox order, whichever replica
 * stored or fanned it out, and a core-NATS push it missed cannot make a gap.
 * The stream is a cursor over the inbox's sequence: it reads what lies
 * after the cursor, and when nothing does it waits for the fold to touch the
 * caller's inbox. Replay (`since`, `Last-Event-ID`) and live are the same
 * read, so nothing falls between them and nothing comes twice, and
 * `Last-Event-ID` resumes exactly after the last notification received.
 */
import { badRequest, notificationId, notifyPattern, unauthorized, type HttpAnswer, type HttpCall, type HttpHandler, type NotificationRecord } from "@colmena/protocol";
import type { InboxSignals } from "./inbox-signals.ts";
import type { NotifyQueries } from "./queries.ts";
import { patternMatches } from "./topic-index.ts";

export interface EventsDeps {
  queries: NotifyQueries;
  signals: InboxSignals;
  /** Waits until this replica's model has folded everything the stream held when called. */
  catchUp(): Promise<void>;
  /** The current fold position: where a stream without `since` starts. */
  lastSeq(): number;
  /** The longest silence on a stream (a comment line, or a blank NDJSON line, then). */
  heartbeatMs: number;
  /** Aborted when the service stops: every stream ends (clients reconnect with Last-Event-ID). */
  stopping: AbortSignal;
}

const PAGE = 200;

/** Where the stream starts: after a stream sequence, and (for a time `since`) only later notifications. */
function startOf(call: HttpCall, deps: EventsDeps): { afterSeq: number; afterTs: number } {
  const resume = call.headers["last-event-id"]?.trim();
  const since = resume || call.query.get("since") || undefined;
  const what = resume ? "Last-Event-ID" : "since";
  if (since === undefined) return { afterSeq: deps.lastSeq(), afterTs: -1 };
  if (since === "all") return { afterSeq: 0, afterTs: -1 };
  if (/^\d{1,15}$/.test(since)) return { afterSeq: 0, afterTs: Number(since) };
  if (!notificationId.safeParse(since).success) throw badRequest(`${what} must be a notification id, a time in ms, or all`, [{ path: what, message: "not a notification id, a time in ms, or all" }]);
  const seq = deps.queries.seqOf(since);
  if (seq === undefined) throw badRequest(`${what}: no notification ${since}`, [{ path: what, message: "unknown notification id" }]);
  return { afterSeq: seq, afterTs: -1 };
}

function filterOf(call: HttpCall): ((topic: string) => boolean) | null {
  const pattern = call.query.get("topic");
  if (pattern === null) return null;
  const r = notifyPattern.safeParse(pattern);
  if (!r.success) throw badRequest("topic must be a topic pattern (tokens of [a-z0-9_-], `*`, a final `>`)", [{ path: "topic", message: r.error.issues[0]?.message ?? "invalid" }]);
  return (topic) => patternMatches(pattern, topic);
}

const sse = (n: NotificationRecord) => `event: notify.event\nid: ${n.notification_id}\ndata: ${JSON.stringify(n)}\n\n`;
const ndjson = (n: NotificationRecord) => `${JSON.stringify(n)}\n`;

export function httpEvents(deps: EventsDeps): HttpHandler {
  return async (call): Promise<HttpAnswer> => {
    const user = call.user;
    if (!user) throw unauthorized("an access token is required (Authorization: Bearer <access_token>, or ?token=)");
    const match = filterOf(call);
    // A notification stored (through another replica) before this request must be found by its id, and replayed.
    await deps.catchUp();
    const start = startOf(call, deps);
    const asSse = /\btext\/event-stream\b/i.test(call.headers.accept ?? "");
    const format = asSse ? sse : ndjson;
    const keepAlive = asSse ? ": keep-alive\n\n" : "\n";
    const ended = AbortSignal.any([call.signal, deps.stopping]);

    async function* body(): AsyncIterable<string> {
      let cursor = start.afterSeq;
      // At once, so the response begins before the first notification: an SSE client
      // reconnects after 2 s when the stream ends (a service stop); NDJSON gets a keep-alive.
      yield asSse ? "retry: 2000\n: connected\n\n" : keepAlive;
      while (!ended.aborted) {
        const rows = deps.queries.page(user!.id, { afterSeq: cursor, afterTs: start.afterTs, limit: PAGE });
        if (rows.length > 0) {
          cursor = rows[rows.length - 1].seq;
          const out = rows.filter((r) => !match || match(r.note.topic)).map((r) => format(r.note)).join("");
          if (out) yield out;
          continue;
        }
        // Nothing after the cursor: registered before any await, so no fold slips in between.
        const woke = await deps.signals.next(user!.id, deps.heartbeatMs, ended);
        if (!woke && !ended.aborted) yield keepAlive;
      }
    }

    return {
      status: 200,
      headers: asSse
        ? { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" }
        : { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" },
      body: body(),
    };
  };
}
