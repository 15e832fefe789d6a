import type { z } from "zod";

/** Who may call an op: anyone, an authenticated connection, or a `COLMENA_ADMINS` user. */
export type OpAccess = "public" | "user" | "admin";

/**
 * One operation of the wire protocol: which service answers it (or `gateway`
 * for ops the gateway answers itself), who may call it, and the zod schemas of
 * its `data` and its reply data. Request schemas are strict: unknown fields
 * are `bad_request` (protocol.md section 2).
 */
export interface OpDef<Req extends z.ZodType = z.ZodType, Rep extends z.ZodType = z.ZodType> {
  op: string;
  service: string;
  access: OpAccess;
  request: Req;
  reply: Rep;
  summary: string;
}

export function defineOp<Req extends z.ZodType, Rep extends z.ZodType>(def: OpDef<Req, Rep>): OpDef<Req, Rep> {
  return def;
}

export type RequestOf<D> = D extends OpDef<infer Req, z.ZodType> ? z.input<Req> : never;
export type ReplyOf<D> = D extends OpDef<z.ZodType, infer Rep> ? z.output<Rep> : never;
