/**
 * Helpers for the files service's own tests: files instances on a real
 * nats-server, each on its own connection, and `call()`, which sends an op
 * the way the gateway does (a NATS request with the `Colmena-User` headers).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, Headers, opSubject, type ErrorBody } from "@colmena/protocol";
import { silentLogger } from "@colmena/runtime";
import { startFiles, type RunningFiles } from "../src/start.ts";

export interface FilesFixture extends AsyncDisposable {
  nc: NatsConnection;
  start(env?: NodeJS.ProcessEnv): Promise<RunningFiles & { nc: NatsConnection }>;
}

export async function filesFixture(url: string, env: NodeJS.ProcessEnv = {}): Promise<FilesFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-files-"));
  const key = randomBytes(32).toString("hex");
  const nc = await connect({ servers: url });
  const started: (RunningFiles & { nc: NatsConnection })[] = [];
  let n = 0;
  return {
    nc,
    async start(more = {}) {
      const fnc = await connect({ servers: url });
      const f = await startFiles({ nc: fnc, log: silentLogger(), env: { COLMENA_DATA_DIR: dataDir, COLMENA_INSTANCE: `f${++n}`, COLMENA_FILES_KEY: key, ...env, ...more } });
      // Its subscriptions reach the server before anyone calls.
      await fnc.flush();
      const running = Object.assign(f, { nc: fnc });
      started.push(running);
      return running;
    },
    async [Symbol.asyncDispose]() {
      for (const s of started.reverse()) {
        await s.stop().catch(() => undefined);
        await s.nc.close().catch(() => undefined);
      }
      await nc.close().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function call<T = Record<string, any>>(nc: NatsConnection, op: string, data: unknown, user = "u1"): Promise<T> {
  const h = headers();
  h.set(Headers.user, user);
  h.set(Headers.username, user);
  h.set(Headers.requestId, `test-${Math.random().toString(36).slice(2)}`);
  const m = await nc.request(opSubject(op), JSON.stringify(data), { timeout: 20_000, headers: h });
  if (m.headers?.get(Headers.serviceErrorCode)) throw ColmenaError.fromBody(m.json<ErrorBody>());
  return m.json<T>();
}

/** Asserts a call fails with `code`; returns the error. */
export async function refused(p: Promise<unknown>, code: string): Promise<ColmenaError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ColmenaError && e.code === code) return e;
    throw new Error(`expected ${code}, got ${e instanceof ColmenaError ? `${e.code}: ${e.message}` : e}`);
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

export const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");
export const unb64 = (s: string) => Buffer.from(s, "base64");
