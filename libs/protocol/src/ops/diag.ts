/**
 * Ops of the `diag` service: an authenticated echo through the whole path
 * (client -> gateway -> NATS -> service and back), for gateway tests and the
 * benchmark, plus channel helpers that exercise the gateway's channel
 * machinery. Channels a client may name here are confined to `diag.<token>`
 * (and, for pushes, the caller's own user channel), so running `diag` in a
 * deployment opens nothing.
 */
import { z } from "zod";
import { defineOp } from "./define.ts";

/** The service's name. It is diagnostic: readiness (`/readyz`) does not wait for it. */
export const DIAG_SERVICE = "diag";

/** `diag.<token>`: the only channels a diag client may (un)subscribe to. */
export const diagChannel = z.string().regex(/^diag\.[A-Za-z0-9_-]{1,64}$/, "a channel `diag.<token>`");

export const diagOps = {
  "diag.echo": defineOp({
    op: "diag.echo",
    service: DIAG_SERVICE,
    access: "user",
    summary: "Echoes the payload with the caller's user id and the server time (optionally after a delay); tells the request id and `Colmena-Min-Seq` it got, and can report a `Colmena-Seq`.",
    request: z.strictObject({
      payload: z.json().optional(),
      delay_ms: z.number().int().min(0).max(60_000).optional(),
      /** Reported back as `Colmena-Seq`, as a write would. */
      set_seq: z.number().int().min(1).optional(),
    }),
    reply: z.object({
      payload: z.unknown(),
      user_id: z.string(),
      ts: z.number().int(),
      request_id: z.string().optional(),
      min_seq: z.number().int().optional(),
    }),
  }),
  "diag.subscribe": defineOp({
    op: "diag.subscribe",
    service: DIAG_SERVICE,
    access: "user",
    summary: "Subscribes the calling connection to a `diag.<token>` channel (through the reply header).",
    request: z.strictObject({ channel: diagChannel }),
    reply: z.object({ channel: z.string() }),
  }),
  "diag.unsubscribe": defineOp({
    op: "diag.unsubscribe",
    service: DIAG_SERVICE,
    access: "user",
    summary: "Unsubscribes the calling connection from a `diag.<token>` channel.",
    request: z.strictObject({ channel: diagChannel }),
    reply: z.object({ channel: z.string() }),
  }),
  "diag.push": defineOp({
    op: "diag.push",
    service: DIAG_SERVICE,
    access: "user",
    summary: "Pushes an event to a `diag.<token>` channel or to the caller's own user channel, optionally not to the calling connection.",
    request: z.strictObject({
      channel: z.union([diagChannel, z.literal("self")]),
      event: z.string().regex(/^[a-z0-9_.-]{1,64}$/),
      data: z.json().optional(),
      exclude_self: z.boolean().optional(),
    }),
    reply: z.object({}),
  }),
};
