/**
 * Test helpers: call auth over NATS exactly as the gateway does (op subject,
 * JSON body, Colmena-* headers; a `Nats-Service-Error-Code` reply is an error),
 * and start in-process auth instances with a cheap scrypt cost.
 */
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, Headers, opSubject, type ErrorBody } from "@colmena/protocol";
import { silentLogger } from "@colmena/runtime";
import { startAuth, type RunningAuth } from "@colmena/auth";

/** Cheap enough for tests; production uses 16384. */
export const TEST_SCRYPT_N = 1024;

export interface CallOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** One request to an auth op; resolves with the reply data or throws the ColmenaError it carried. */
export async function call<T = Record<string, unknown>>(nc: NatsConnection, op: string, data: unknown = {}, opts: CallOptions = {}): Promise<T> {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
  const msg = await nc.request(opSubject(op), JSON.stringify(data), { headers: h, timeout: opts.timeoutMs ?? 5_000 });
  if (msg.headers?.get(Headers.serviceErrorCode)) throw ColmenaError.fromBody(msg.json<ErrorBody>());
  return msg.json<T>();
}

/** The error a call fails with (fails the test if it succeeds). */
export async function callError(nc: NatsConnection, op: string, data: unknown = {}, opts: CallOptions = {}): Promise<ColmenaError> {
  try {
    await call(nc, op, data, opts);
  } catch (err) {
    if (err instanceof ColmenaError) return err;
    throw err;
  }
  throw new Error(`${op} succeeded but was expected to fail`);
}

/** Headers the gateway would set for an authenticated connection. */
export function userHeaders(user: { user_id: string; username: string }, family?: string): Record<string, string> {
  const h: Record<string, string> = { [Headers.user]: user.user_id, [Headers.username]: user.username, [Headers.conn]: "test-conn" };
  if (family) h[Headers.tokenFamily] = family;
  return h;
}

export interface AuthInstance extends AsyncDisposable {
  nc: NatsConnection;
  auth: RunningAuth;
}

/** An auth instance in this process, on its own connection. */
export async function startTestAuth(url: string, overrides: Record<string, unknown> = {}): Promise<AuthInstance> {
  const nc = await connect({ servers: url });
  const auth = await startAuth({ nc, log: silentLogger(), env: {}, overrides: { scryptN: TEST_SCRYPT_N, ...overrides } });
  return {
    nc,
    auth,
    async [Symbol.asyncDispose]() {
      await auth.stop();
      await nc.close();
    },
  };
}
