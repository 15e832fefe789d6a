/**
 * Task frames of the original task client (protocol.md section 9), on TCP
 * only: `{"tipo", "contenido", "tarea_id"?}` becomes `tasks.submit` with
 * `wait: true`, answered `{"estado": "ok", ...}` or `{"estado": "error", ...}`.
 * The tasks service validates the type and input; the gateway only reshapes.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, findOp } from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import type { GatewayConfig } from "./config.ts";
import type { Conn } from "./connection.ts";
import { callService, timeoutFor } from "./upstream.ts";

/** The identity legacy frames run as when `COLMENA_LEGACY_ANONYMOUS` is on and nobody logged in. */
export const ANONYMOUS = { id: "anonymous", username: "anonymous" } as const;

export interface LegacyDeps {
  nc: NatsConnection;
  config: GatewayConfig;
  log: Logger;
}

/** A frame with no `op` but a `tipo`. */
export function isLegacyFrame(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !Object.hasOwn(v, "op") && Object.hasOwn(v, "tipo");
}

const isScalar = (v: unknown) => (typeof v === "string" && v.length > 0 && v.length <= 64) || (typeof v === "number" && Number.isFinite(v));

export async function handleLegacy(conn: Conn, frame: Record<string, unknown>, deps: LegacyDeps): Promise<void> {
  const answer = (obj: Record<string, unknown>) => conn.sendText(JSON.stringify(obj));
  try {
    const { tipo, contenido, tarea_id } = frame;
    if (!isScalar(tipo)) throw new ColmenaError("bad_request", "tipo must be a task type, alias or code");
    if (contenido === undefined || contenido === null) throw new ColmenaError("bad_request", "contenido is required");
    if (tarea_id !== undefined && !isScalar(tarea_id)) throw new ColmenaError("bad_request", "tarea_id must be a string of 1-64 characters or a number");
    const def = findOp("tasks.submit");
    if (!def) throw new ColmenaError("unavailable", "tasks are not available on this server");
    const user = conn.validUser() ?? (deps.config.legacyAnonymous ? ANONYMOUS : undefined);
    if (!user) throw new ColmenaError("unauthorized", "login required");
    const data: Record<string, unknown> = { type: tipo, input: contenido, wait: true };
    if (tarea_id !== undefined) data.idempotency_key = String(tarea_id);
    const reply = await callService(deps.nc, conn, def, data, { timeoutMs: timeoutFor(data, deps.config.requestTimeoutMs), as: user });
    const r = JSON.parse(reply.raw) as { task_id?: unknown; result?: unknown; worker?: unknown };
    answer({ estado: "ok", resultado: r.result, tarea_id: tarea_id ?? r.task_id, worker: r.worker });
  } catch (err) {
    const message = err instanceof ColmenaError ? err.message : "internal error";
    if (!(err instanceof ColmenaError)) deps.log.error({ err, conn: conn.id }, "legacy task failed");
    answer({ estado: "error", mensaje: message });
  }
}
