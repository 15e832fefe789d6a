import type { z } from "zod";

/** Who may call an op: anyone, an authenticated connection, or a `COLMENA_ADMINS` user. */
export type OpAccess = "public" | "user" | "admin";

/** The service name of ops the gateway answers itself. */
export const GATEWAY_SERVICE = "gateway";

/**
 * The gateway's built-in answers, for ops with `service: "gateway"`:
 * `greeting` (server, version, limits), `clock` (server time), `token`
 * (verify an access token and authenticate the connection with it),
 * `identity` (the connection's user), `services` ($SRV discovery).
 */
export type GatewayAnswer = "greeting" | "clock" | "token" | "identity" | "services";

/**
 * What a successful reply does to the connection, for the gateway:
 * `login`: the reply's `access_token` authenticates the connection (the
 * gateway verifies it first); `logout`: the connection is left
 * unauthenticated once the reply comes.
 */
export type SessionEffect = "login" | "logout";

/**
 * Facts of the connection the gateway adds as request headers, beyond those
 * every request carries (user, username, connection, request id, min seq):
 * `tokenFamily` is `Colmena-Token-Family`, the refresh-token family of the
 * connection's access token.
 */
export type ConnHeader = "tokenFamily";

/**
 * Where an op's own deadline comes from, for ops that wait for work (a task's
 * result): when `when` is true in the request (or always, without `when`),
 * the gateway waits `field` milliseconds (or `defaultMs`) plus its trip slack
 * instead of its request timeout.
 */
export interface OpTimeout<Field extends string = string> {
  field: Field;
  when?: Field;
  defaultMs: number;
}

/**
 * A frame of the original clients (protocol.md section 9) served by this op:
 * a frame with no `op` that has the `marker` field. The gateway turns it into
 * the op's request, calls the op, and answers in the old format; it knows
 * nothing else of it.
 */
export interface LegacyFrame {
  /** The field whose presence (with no `op`) makes a frame this op's: `tipo`. */
  marker: string;
  /** The op's request data; throws `bad_request` (a ColmenaError) on a bad frame. */
  toRequest(frame: Record<string, unknown>): Record<string, unknown>;
  /** The old-format answer to a successful reply. */
  toAnswer(frame: Record<string, unknown>, reply: unknown): Record<string, unknown>;
  /** The old-format answer to any failure. */
  toError(message: string): Record<string, unknown>;
}

/**
 * One operation of the wire protocol: which service answers it (or `gateway`
 * for ops the gateway answers itself), who may call it, and the zod schemas of
 * its `data` and its reply data. Request schemas are strict: unknown fields
 * are `bad_request` (protocol.md section 2).
 *
 * The optional fields are everything the gateway needs to know of an op
 * beyond its subject, so that a new service adds ops without touching the
 * gateway (design.md section 1).
 */
export interface OpDef<Req extends z.ZodType = z.ZodType, Rep extends z.ZodType = z.ZodType> {
  op: string;
  service: string;
  access: OpAccess;
  request: Req;
  reply: Rep;
  summary: string;
  /** For `service: "gateway"` ops only: which built-in answer. */
  answer?: GatewayAnswer;
  session?: SessionEffect;
  connHeaders?: readonly ConnHeader[];
  timeout?: OpTimeout;
  legacy?: LegacyFrame;
  /**
   * Running it twice is the same as once (a read, or a write keyed by the
   * request itself): where a request was sent and its answer lost (a
   * replica or a gateway died), the gateway and the SDK send it again
   * instead of answering `unavailable`.
   */
  idempotent?: boolean;
}

/** Type-checks an op; `timeout` may name only fields of its request. */
export function defineOp<Req extends z.ZodType, Rep extends z.ZodType>(
  def: OpDef<Req, Rep> & { timeout?: OpTimeout<keyof z.input<Req> & string> },
): OpDef<Req, Rep> {
  return def;
}

export type RequestOf<D> = D extends OpDef<infer Req, z.ZodType> ? z.input<Req> : never;
export type ReplyOf<D> = D extends OpDef<z.ZodType, infer Rep> ? z.output<Rep> : never;
