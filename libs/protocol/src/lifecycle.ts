/**
 * What gateways announce on NATS about their authenticated connections, so a
 * service (chat presence) can follow who is connected without any code of
 * its own in the gateway (design.md section 1). Internal to the system, not
 * part of the client protocol; the subjects are in subjects.ts.
 *
 * - `opened` when a connection authenticates (login, token, WebSocket
 *   connect token) and again for each of them after the gateway's NATS
 *   connection comes back (a listener may have presumed the gateway dead);
 * - `closed` when it logs out, is re-authenticated as another user, goes
 *   away, or the gateway shuts down;
 * - a heartbeat every `interval_ms` while the gateway runs. A gateway that
 *   sent none for `GATEWAY_MISSED_HEARTBEATS` intervals is dead, and every
 *   connection it announced is gone.
 *
 * Core NATS, at most once: `seq` counts one gateway's announcements (opened
 * and closed), and each heartbeat tells the last, so a listener that finds a
 * gap knows it missed one.
 */
import { z } from "zod";

/** Default heartbeat interval; each heartbeat tells its own. */
export const GATEWAY_HEARTBEAT_MS = 5_000;
/** Heartbeats a listener may miss before it presumes the gateway dead (5 s x 3: presence lost within 15 s, protocol.md section 6). */
export const GATEWAY_MISSED_HEARTBEATS = 3;

const base = {
  gateway_id: z.string(),
  /** This gateway's announcement counter, from 1. */
  seq: z.number().int().min(1),
  ts: z.number().int(),
};

export const connOpened = z.object({
  ...base,
  conn_id: z.string(),
  user_id: z.string(),
  username: z.string(),
});
export type ConnOpened = z.infer<typeof connOpened>;

export const CONN_CLOSE_REASONS = ["logout", "replaced", "revoked", "disconnect", "shutdown"] as const;
export const connClosed = connOpened.extend({ reason: z.enum(CONN_CLOSE_REASONS) });
export type ConnClosed = z.infer<typeof connClosed>;

export const gatewayHeartbeat = z.object({
  gateway_id: z.string(),
  ts: z.number().int(),
  interval_ms: z.number().int().min(1),
  /** When this gateway started: a new value for the same id would mean a restart. */
  started_at: z.number().int(),
  /** Open client connections, authenticated or not. */
  connections: z.number().int().min(0),
  /** Of those, the authenticated ones (each announced as `opened`). */
  sessions: z.number().int().min(0),
  /** The `seq` of this gateway's latest announcement (0 before any). */
  seq: z.number().int().min(0),
});
export type GatewayHeartbeat = z.infer<typeof gatewayHeartbeat>;

/** When a listener should presume the gateway of this heartbeat dead, if no other heartbeat comes. */
export function gatewayDeadline(hb: Pick<GatewayHeartbeat, "interval_ms">, receivedAt = Date.now()): number {
  return receivedAt + hb.interval_ms * GATEWAY_MISSED_HEARTBEATS;
}
