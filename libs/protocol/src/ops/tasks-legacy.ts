/**
 * Task frames of the original task client (protocol.md section 9), served by
 * `tasks.submit`: `{"tipo", "contenido", "tarea_id"?}` becomes a submit with
 * `wait: true`, answered `{"estado": "ok", "resultado", "tarea_id", "worker"}`
 * or `{"estado": "error", "mensaje"}`. The tasks service validates the type
 * and input; this only reshapes.
 */
import { ColmenaError } from "../errors.ts";
import type { LegacyFrame } from "./define.ts";

const isScalar = (v: unknown) => (typeof v === "string" && v.length > 0 && v.length <= 64) || (typeof v === "number" && Number.isFinite(v));

export const legacyTaskFrame: LegacyFrame = {
  marker: "tipo",
  toRequest({ tipo, contenido, tarea_id }) {
    if (!isScalar(tipo)) throw new ColmenaError("bad_request", "tipo must be a task type, alias or code");
    if (contenido === undefined || contenido === null) throw new ColmenaError("bad_request", "contenido is required");
    if (tarea_id !== undefined && !isScalar(tarea_id)) throw new ColmenaError("bad_request", "tarea_id must be a string of 1-64 characters or a number");
    const data: Record<string, unknown> = { type: tipo, input: contenido, wait: true };
    // The client's own task id makes a resend the same task.
    if (tarea_id !== undefined) data.idempotency_key = String(tarea_id);
    return data;
  },
  toAnswer({ tarea_id }, reply) {
    const r = (reply ?? {}) as { task_id?: unknown; result?: unknown; worker?: unknown };
    return { estado: "ok", resultado: r.result, tarea_id: tarea_id ?? r.task_id, worker: r.worker };
  },
  toError: (message) => ({ estado: "error", mensaje: message }),
};
