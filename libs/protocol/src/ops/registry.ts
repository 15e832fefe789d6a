/**
 * The op registry: every operation of the wire protocol, by name. Services
 * add their ops in a file of their own under ops/ and one line here.
 */
import type { OpDef } from "./define.ts";
import { authOps, sessionOps, sysOps } from "./session.ts";
import { diagOps } from "./diag.ts";
import { tasksOps } from "./tasks.ts";

export const OPS: Readonly<Record<string, OpDef>> = Object.freeze({
  ...sessionOps,
  ...authOps,
  ...sysOps,
  ...diagOps,
  ...tasksOps,
});

export function findOp(op: string): OpDef | undefined {
  return Object.hasOwn(OPS, op) ? OPS[op] : undefined;
}

/** Ops answered by one service (not by the gateway). */
export function opsOf(service: string): OpDef[] {
  return Object.values(OPS).filter((d) => d.service === service);
}
