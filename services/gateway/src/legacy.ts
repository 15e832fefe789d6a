/**
 * Frames of the original clients (protocol.md section 9), on TCP only: a
 * frame with no `op` but the legacy marker of an op (libs/protocol,
 * `OpDef.legacy`) is reshaped into that op's request, routed like any other,
 * and answered in the old format. The op's declaration does the reshaping;
 * the gateway knows no legacy field and no op here.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, type LegacyFrame, type OpDef } from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import type { GatewayConfig } from "./config.ts";
import type { Conn } from "./connection.ts";
import { callService, timeoutFor } from "./upstream.ts";

/**
 * The identity legacy frames run as when `COLMENA_LEGACY_ANONYMOUS` is on and
 * nobody logged in: one principal per connection (its id is unique across
 * gateways), so one anonymous client can never reach another's tasks, even
 * with the same `tarea_id` (protocol.md section 9).
 */
export function anonymousOf(conn: Conn): { id: string; username: string } {
  return { id: `anon-${conn.id}`, username: "anonymous" };
}

export interface LegacyDeps {
  nc: NatsConnection;
  config: GatewayConfig;
  log: Logger;
}

/** Answers a legacy frame with its old-format error (a refused frame: rate limit). */
export function refuseLegacy(conn: Conn, legacy: LegacyFrame, err: ColmenaError): void {
  conn.sendText(JSON.stringify(legacy.toError(err.message)));
}

/** Runs a legacy frame as the op `def` whose declaration `legacy` is. */
export async function handleLegacy(conn: Conn, def: OpDef, legacy: LegacyFrame, frame: Record<string, unknown>, deps: LegacyDeps): Promise<void> {
  try {
    const data = legacy.toRequest(frame);
    const user = conn.validUser() ?? (deps.config.legacyAnonymous ? anonymousOf(conn) : undefined);
    if (!user) throw new ColmenaError("unauthorized", "login required");
    const reply = await callService(deps.nc, conn, def, data, { timeoutMs: timeoutFor(def, data, deps.config.requestTimeoutMs), as: user });
    conn.sendText(JSON.stringify(legacy.toAnswer(frame, JSON.parse(reply.raw))));
  } catch (err) {
    if (!(err instanceof ColmenaError)) deps.log.error({ err, conn: conn.id }, "legacy frame failed");
    refuseLegacy(conn, legacy, err instanceof ColmenaError ? err : new ColmenaError("internal", "internal error"));
  }
}
