import { z } from "zod";
import { GATEWAY_SERVICE, defineOp } from "./define.ts";
import { defineEvent } from "../events/define.ts";

export const username = z.string().min(3).max(32).regex(/^[A-Za-z0-9_.-]+$/, "3-32 characters of [A-Za-z0-9_.-]");
export const password = z.string().min(8).max(256);
const userRef = z.object({ user_id: z.string(), username: z.string() });

export const sessionOps = {
  hello: defineOp({
    op: "hello",
    service: GATEWAY_SERVICE,
    access: "public",
    answer: "greeting",
    idempotent: true,
    summary: "Greets the server; tells its version, protocol and frame limit, and the user if logged in.",
    request: z.strictObject({ client: z.string().max(128).optional(), protocol: z.number().int().optional() }),
    reply: z.object({
      server: z.literal("colmena"),
      version: z.string(),
      protocol: z.literal(1),
      max_frame_bytes: z.number().int(),
      user: userRef.optional(),
    }),
  }),
  ping: defineOp({
    op: "ping",
    service: GATEWAY_SERVICE,
    access: "public",
    answer: "clock",
    idempotent: true,
    summary: "Answers at once with the server time.",
    request: z.strictObject({}),
    reply: z.object({ ts: z.number().int() }),
  }),
};

export const authOps = {
  "auth.register": defineOp({
    op: "auth.register",
    service: "auth",
    access: "public",
    summary: "Creates a user; usernames are unique, case-insensitively (a taken name is `conflict`). Safe to retry: registering again with the same name and the same password answers the same user.",
    request: z.strictObject({ username, password }),
    reply: userRef,
  }),
  "auth.login": defineOp({
    op: "auth.login",
    service: "auth",
    access: "public",
    session: "login",
    summary: "Checks the password, issues tokens and authenticates the connection.",
    request: z.strictObject({ username: z.string().max(256), password: z.string().max(1024) }),
    reply: z.object({
      user_id: z.string(),
      username: z.string(),
      access_token: z.string(),
      refresh_token: z.string(),
      expires_in: z.number().int(),
    }),
  }),
  "auth.token": defineOp({
    op: "auth.token",
    service: GATEWAY_SERVICE,
    access: "public",
    answer: "token",
    summary: "Authenticates the connection with an access token (verified by the gateway).",
    request: z.strictObject({ access_token: z.string().max(8192) }),
    reply: userRef,
  }),
  "auth.refresh": defineOp({
    op: "auth.refresh",
    service: "auth",
    access: "public",
    summary: "Exchanges a refresh token for new tokens; a reused refresh token revokes its family.",
    request: z.strictObject({ refresh_token: z.string().max(1024) }),
    reply: z.object({ access_token: z.string(), refresh_token: z.string(), expires_in: z.number().int() }),
  }),
  "auth.logout": defineOp({
    op: "auth.logout",
    service: "auth",
    access: "user",
    session: "logout",
    connHeaders: ["tokenFamily"],
    summary: "Revokes the connection's refresh token family and unauthenticates it.",
    request: z.strictObject({}),
    reply: z.object({}),
  }),
  "auth.whoami": defineOp({
    op: "auth.whoami",
    service: GATEWAY_SERVICE,
    access: "user",
    answer: "identity",
    idempotent: true,
    summary: "Tells who the connection is logged in as.",
    request: z.strictObject({}),
    reply: userRef,
  }),
};

const endpointStats = z.object({
  name: z.string(),
  subject: z.string(),
  num_requests: z.number(),
  num_errors: z.number(),
  average_processing_time_ms: z.number(),
});

export const sysOps = {
  "sys.services": defineOp({
    op: "sys.services",
    service: GATEWAY_SERVICE,
    access: "admin",
    answer: "services",
    summary: "Lists every running service instance with per-endpoint stats ($SRV discovery).",
    request: z.strictObject({}),
    reply: z.object({
      services: z.array(
        z.object({ name: z.string(), id: z.string(), version: z.string(), endpoints: z.array(endpointStats) }),
      ),
    }),
  }),
};

/** Events the gateway itself sends (protocol.md section 2: a gateway that is shutting down). */
export const sessionEvents = {
  "session.closing": defineEvent({
    event: "session.closing",
    service: GATEWAY_SERVICE,
    summary:
      "This gateway is shutting down (a rolling restart, a scale-down): from now on it answers new requests with `unavailable` (never run, safe to send again), answers those in flight, then closes. Reconnect to any gateway after `reconnect_after_ms` (a spread, so clients do not all arrive at once) and log in again.",
    data: z.object({ reason: z.string(), reconnect_after_ms: z.number().int().min(0) }),
  }),
  "session.resync": defineEvent({
    event: "session.resync",
    service: GATEWAY_SERVICE,
    summary:
      "Sent to each connection that holds channels when the gateway's own link to the servers behind it drops (a NATS disconnect): events pushed to its channels until the link is back may never reach it, though the connection, its login and its channels stand. Resume what you follow from where you are now, as after a reconnect (a chat room: `chat.join` with `since_seq` = the last `seq` seen, holding the room's live events until it is answered; the SDK does it by itself). Requests meanwhile may wait for the link or fail with `unavailable` or `timeout`: try them again.",
    data: z.object({ reason: z.string() }),
  }),
};
/** The one event a draining gateway sends (the gateway and the SDK name it through this). */
export const sessionClosing = sessionEvents["session.closing"];
/** The event a gateway sends after its NATS reconnect (the gateway and the SDK name it through this). */
export const sessionResync = sessionEvents["session.resync"];
