/**
 * A push as the gateway delivers it (design.md section 3): the event name and
 * the excluded connection from the NATS headers, the JSON event frame spliced,
 * encoded and framed once for every connection it reaches (SharedText). Both
 * ways a push arrives use it: a channel's own subject (channels.ts) and a
 * multicast to many channels (multicast.ts).
 */
import type { Msg } from "@nats-io/transport-node";
import { Headers } from "@colmena/protocol";
import { counter } from "@colmena/runtime";
import type { Conn } from "./connection.ts";
import { SharedText } from "./shared-text.ts";

export const pushes = counter("colmena_gateway_pushes_total", "push messages received from NATS, by outcome", ["outcome"]);

export interface Push {
  event: string;
  /** The connection that must not get it (`Colmena-Exclude-Conn`), or "". */
  exclude: string;
  /** The JSON event frame, or undefined when the data holds a raw newline (a TCP line would break: those are re-encoded). */
  json: SharedText | undefined;
  /** The data parsed, at most once, for connections that need it (MessagePack). */
  parse: () => unknown;
}

/** The push a message carries, its data given as text (null when empty); undefined (and counted) without an event name. */
export function pushOf(msg: Msg, raw: string): Push | undefined {
  // One pass over the headers (exact names, as MsgHdrs.get would match them).
  let event = "";
  let exclude = "";
  const h = msg.headers;
  if (h)
    for (const [k, vs] of h) {
      if (k === Headers.event) event = vs[0] ?? "";
      else if (k === Headers.excludeConn) exclude = vs[0] ?? "";
    }
  if (!event) {
    pushes.inc({ outcome: "no_event" });
    return undefined;
  }
  const text = raw.length ? raw : "null";
  const json = text.includes("\n") ? undefined : new SharedText(`{"event":${JSON.stringify(event)},"data":${text}}`);
  let parsed: { v: unknown } | undefined;
  return { event, exclude, json, parse: () => (parsed ??= { v: JSON.parse(text) }).v };
}

/**
 * Sends the push to each member but the excluded one; with `seen`, to a
 * connection at most once across calls (a multicast naming two channels it is in).
 */
export function deliverTo(members: Set<Conn>, push: Push, seen?: Set<Conn>): void {
  // No copy: a send may close a slow connection, which leaves the set, and a Set iterates safely past deletions.
  for (const conn of members) {
    if (conn.id === push.exclude) continue;
    if (seen) {
      if (seen.has(conn)) continue;
      seen.add(conn);
    }
    conn.sendEvent(push.event, push.json, push.parse);
  }
}
