/**
 * The op registry: every operation of the wire protocol, by name. Services
 * add their ops in a file of their own under ops/ and one line here.
 */
import { GATEWAY_SERVICE, type GatewayAnswer, type OpDef } from "./define.ts";
import { authOps, sessionOps, sysOps } from "./session.ts";
import { DIAG_SERVICE, diagOps } from "./diag.ts";
import { tasksOps } from "./tasks.ts";
import { notifyOps } from "./notify.ts";
import { filesOps } from "./files.ts";
import { chatOps } from "./chat.ts";

export const OPS: Readonly<Record<string, OpDef>> = Object.freeze({
  ...sessionOps,
  ...authOps,
  ...sysOps,
  ...diagOps,
  ...tasksOps,
  ...notifyOps,
  ...filesOps,
  ...chatOps,
});

export function findOp(op: string): OpDef | undefined {
  return Object.hasOwn(OPS, op) ? OPS[op] : undefined;
}

/** Ops answered by one service (not by the gateway). */
export function opsOf(service: string): OpDef[] {
  return Object.values(OPS).filter((d) => d.service === service);
}

/** The gateway op with this built-in answer (so the gateway can name its own ops in messages without spelling them). */
export function gatewayOp(answer: GatewayAnswer): OpDef | undefined {
  return Object.values(OPS).find((d) => d.answer === answer);
}

const LEGACY_OPS = Object.values(OPS).filter((d) => d.legacy);

/** The op serving a frame of the original clients: one with no `op` but an op's legacy marker (protocol.md section 9). */
export function legacyOpOf(frame: unknown): OpDef | undefined {
  if (frame === null || typeof frame !== "object" || Array.isArray(frame) || Object.hasOwn(frame, "op")) return undefined;
  return LEGACY_OPS.find((d) => Object.hasOwn(frame, d.legacy!.marker));
}

/** The gateway itself and the services that exist for tests and diagnostics: readiness does not wait for them. */
const DIAGNOSTIC_SERVICES: ReadonlySet<string> = new Set([GATEWAY_SERVICE, DIAG_SERVICE]);

/** The services the registry routes ops to, which a gateway's `/readyz` waits for. */
export function coreServices(): string[] {
  return [...new Set(Object.values(OPS).map((d) => d.service))].filter((s) => !DIAGNOSTIC_SERVICES.has(s)).sort();
}
