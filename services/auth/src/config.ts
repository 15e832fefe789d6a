/**
 * The auth service's settings: the common ones plus token lifetimes, an
 * optional signing key, the scrypt cost, and the limits on password work
 * (attempts.ts). Loaded once at boot and frozen.
 */
import { z } from "zod";
import { commonSettings, defineConfig, setting, type ConfigOf } from "@colmena/runtime";

const positive = (def: number) => z.coerce.number().int().min(1).default(def);

/** scrypt's N must be a power of two above 1; tests lower it to stay fast. */
const scryptCost = z.coerce
  .number()
  .int()
  .min(2)
  .max(2 ** 20)
  .refine((n) => (n & (n - 1)) === 0, "must be a power of two")
  .default(16_384);

export const authSettings = {
  ...commonSettings,
  accessTtlS: setting("COLMENA_ACCESS_TTL_S", positive(900), "access token lifetime, seconds"),
  refreshTtlS: setting("COLMENA_REFRESH_TTL_S", positive(30 * 24 * 3600), "refresh token lifetime, seconds (renewed on every rotation)"),
  jwtPrivateKey: setting("COLMENA_JWT_PRIVATE_KEY", z.string().optional(), "Ed25519 private key (PEM); default: the cluster-wide key kept in KV"),
  scryptN: setting("COLMENA_SCRYPT_N", scryptCost, "scrypt cost N for new password hashes (power of two)"),
  hashConcurrency: setting("COLMENA_AUTH_HASH_CONCURRENCY", positive(2), "password hashes computed at once (about one per core)"),
  hashQueue: setting("COLMENA_AUTH_HASH_QUEUE", positive(32), "password checks that may wait for a hash; beyond, rate_limited"),
  usernameFailures: setting("COLMENA_AUTH_USERNAME_FAILURES", positive(5), "wrong passwords for one username before it is locked"),
  addressFailures: setting("COLMENA_AUTH_ADDRESS_FAILURES", positive(20), "wrong passwords (and hashes in flight) from one address before it is locked"),
  lockoutMs: setting("COLMENA_AUTH_LOCKOUT_MS", positive(1_000), "first lockout, ms; each further one doubles it"),
  lockoutMaxMs: setting("COLMENA_AUTH_LOCKOUT_MAX_MS", positive(300_000), "longest lockout, ms"),
  failureDecayMs: setting("COLMENA_AUTH_FAILURE_DECAY_MS", positive(600_000), "quiet time, ms, that forgets a key's failures and one lockout"),
};

export const authConfig = defineConfig(authSettings);
export type AuthConfig = ConfigOf<typeof authSettings>;
