/**
 * Subject grammar (design.md section 2). Every subject is built here; nothing
 * else concatenates subject strings.
 *
 *   colmena.<service>.<op...>          request/reply, queue group = service
 *   colmena.push.<channel>             core pub/sub; channel = <kind>.<token>[.<token>...]
 *   colmena.push.multicast             core pub/sub; one push to many channels (multicast.ts), every gateway listens
 *   <service>.ev.<entity>.<id...>      JetStream stream <SERVICE>, written by the owner only
 *   colmena.sys.conn.opened.<gateway>  core pub/sub; a gateway's connection authenticated (lifecycle.ts)
 *   colmena.sys.conn.closed.<gateway>  core pub/sub; it logged out, was replaced, or went away
 *   colmena.sys.gateway.heartbeat.<gateway>  core pub/sub; every interval, while the gateway lives
 *
 * `colmena.sys` is the gateway's own namespace: `sys.*` ops are answered by
 * the gateway itself and never travel on NATS, so no op subject lives there.
 * The gateway id is the last token so that a listener can follow one
 * gateway (`colmena.sys.*.*.<gateway>`) or all (`colmena.sys.conn.>`).
 *
 * A token from a client never goes into a subject unchecked: `assertToken`
 * rejects `.`, `*`, `>`, whitespace and empty strings, and `encodeToken`
 * maps any string to a safe, readable, reversible token.
 */
import { badRequest } from "./errors.ts";
import { utf8Bytes } from "./binary.ts";

export const SUBJECT_ROOT = "colmena";
export const PUSH_ROOT = `${SUBJECT_ROOT}.push`;

const TOKEN_RE = /^[^.*>\s\u0000-\u001f\u007f]+$/;

export function isToken(s: unknown): s is string {
  return typeof s === "string" && s.length > 0 && s.length <= 1024 && TOKEN_RE.test(s);
}

export function assertToken(s: unknown, what = "token"): string {
  if (!isToken(s)) throw badRequest(`${what} is not a valid subject token`);
  return s;
}

/** Percent-encodes every character outside [A-Za-z0-9_-]: "ana.b" -> "ana%2Eb". */
export function encodeToken(s: string): string {
  if (s.length === 0) return "%";
  return s.replace(/[^A-Za-z0-9_-]/gu, (c) =>
    Array.from(utf8Bytes(c), (b) => "%" + b.toString(16).toUpperCase().padStart(2, "0")).join(""),
  );
}
export function decodeToken(t: string): string {
  return t === "%" ? "" : decodeURIComponent(t);
}

/** `auth.login` -> `colmena.auth.login`. Ops come from the registry, never from a client. */
export function opSubject(op: string): string {
  return `${SUBJECT_ROOT}.${op}`;
}

/** The one name no channel may have: its push subject is the multicast's (multicast.ts). */
export const MULTICAST_NAME = "multicast";
/** One push to many channels; every gateway subscribes to it (no queue group). */
export const MULTICAST_SUBJECT = `${PUSH_ROOT}.${MULTICAST_NAME}`;

/** A channel name: dot-separated subject tokens (`user.<id>`, `room.lobby`), never the multicast's name. */
export function isChannel(ch: unknown): ch is string {
  return typeof ch === "string" && ch.length <= 512 && ch !== MULTICAST_NAME && ch.split(".").every(isToken);
}

/** Channel names: `user.<id>`, `room.<name>`, ... Tokens are validated. */
export function channel(kind: string, ...ids: string[]): string {
  const ch = [assertToken(kind, "channel kind"), ...ids.map((id) => assertToken(id, "channel id"))].join(".");
  if (ch === MULTICAST_NAME) throw badRequest(`'${MULTICAST_NAME}' is not a channel name`);
  return ch;
}
export const userChannel = (userId: string) => channel("user", userId);

export function pushSubject(ch: string): string {
  return `${PUSH_ROOT}.${ch}`;
}
export function channelOfPushSubject(subject: string): string {
  return subject.slice(PUSH_ROOT.length + 1);
}

/** `<service>.ev.<entity>.<id...>`; ids must already be tokens (use encodeToken). */
export function eventSubject(service: string, entity: string, ...ids: string[]): string {
  return [service, "ev", entity, ...ids].map((t) => assertToken(t)).join(".");
}
/** All events of one service's stream, for the stream config. */
export const serviceEvents = (service: string) => `${assertToken(service)}.ev.>`;
/** The stream that holds a service's events: `AUTH`, `TASKS`, ... */
export const streamName = (service: string) => assertToken(service).toUpperCase();

/** The gateway's namespace for what it announces about itself and its connections. */
export const SYS_ROOT = `${SUBJECT_ROOT}.sys`;

/** What happened to an authenticated connection. */
export type ConnLifecycle = "opened" | "closed";

/** `colmena.sys.conn.<opened|closed>.<gateway_id>`. */
export function connLifecycleSubject(what: ConnLifecycle, gatewayId: string): string {
  return `${SYS_ROOT}.conn.${what}.${assertToken(gatewayId, "gateway id")}`;
}
/** Every connection announcement of every gateway. */
export const ALL_CONN_LIFECYCLE = `${SYS_ROOT}.conn.>`;

/** `colmena.sys.gateway.heartbeat.<gateway_id>`. */
export function gatewayHeartbeatSubject(gatewayId: string): string {
  return `${SYS_ROOT}.gateway.heartbeat.${assertToken(gatewayId, "gateway id")}`;
}
/** The heartbeats of every gateway. */
export const ALL_GATEWAY_HEARTBEATS = `${SYS_ROOT}.gateway.heartbeat.*`;

/** `colmena.http.<service>.<route>`: where the gateway starts an HTTP call to a route (http/define.ts), queue group = service. */
export function httpRouteSubject(service: string, route: string): string {
  return `${SUBJECT_ROOT}.http.${assertToken(service, "service")}.${assertToken(route, "route")}`;
}
