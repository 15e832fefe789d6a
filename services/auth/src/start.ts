/**
 * Serving auth: the AUTH stream, the signing key, the revoked-family bucket,
 * the password throttles, and one NATS micro service endpoint per auth op
 * (queue group `auth`, so instances share the load).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Headers, authOps } from "@colmena/protocol";
import { FamilyRevocations, ServiceHost, callerOf, loadSigningKey, type Logger, type RequestContext } from "@colmena/runtime";
import { PasswordAttempts } from "./attempts.ts";
import { authConfig, type AuthConfig } from "./config.ts";
import { createAuthService, type AuthService } from "./service.ts";
import { AuthStore } from "./store.ts";

export const AUTH_VERSION = "0.1.0";

export interface StartAuthDeps {
  nc: NatsConnection;
  log: Logger;
  /** Read when `config` is not given (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  overrides?: Parameters<typeof authConfig.load>[1];
  /** An already loaded config (main.ts); wins over env and overrides. */
  config?: AuthConfig;
}

export interface RunningAuth {
  /** The micro service instance id (as `$SRV.INFO` shows it). */
  readonly id: string;
  readonly service: AuthService;
  /** Stops taking requests and waits for those under way; leaves the connection open. */
  stop(): Promise<void>;
}

/** Starts one auth instance on a NATS connection. */
export async function startAuth(deps: StartAuthDeps): Promise<RunningAuth> {
  const config = deps.config ?? authConfig.load(deps.env ?? process.env, deps.overrides);
  const log = deps.log;
  const store = await AuthStore.open(deps.nc, config.streamReplicas);
  const key = await loadSigningKey(deps.nc, config.jwtPrivateKey, config.streamReplicas);
  const revocations = await FamilyRevocations.open(deps.nc, config.streamReplicas);
  const attempts = new PasswordAttempts(config, log);
  const service = createAuthService({
    store,
    key,
    log,
    accessTtlS: config.accessTtlS,
    refreshTtlS: config.refreshTtlS,
    scryptN: config.scryptN,
    attempts,
    revocations,
  });
  const from = (ctx: RequestContext) => ctx.headers?.get(Headers.remoteAddr) || undefined;
  const host = await ServiceHost.start({ nc: deps.nc, name: "auth", version: AUTH_VERSION, description: "users, passwords and tokens", log });
  host
    .handle(authOps["auth.register"], (data, ctx) => service.register(data, from(ctx)))
    .handle(authOps["auth.login"], (data, ctx) => service.login(data, from(ctx)))
    .handle(authOps["auth.refresh"], (data) => service.refresh(data))
    .handle(authOps["auth.logout"], (_data, ctx) => service.logout(callerOf(ctx), ctx.headers?.get(Headers.tokenFamily) || undefined));
  // "Ready" means the server has our subscriptions, so the next request can reach us.
  await deps.nc.flush();
  log.info({ id: host.id, kid: key.kid }, "auth ready");
  return { id: host.id, service, stop: () => host.stop() };
}
