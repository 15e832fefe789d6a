/**
 * The auth service's settings: the common ones plus token lifetimes, an
 * optional signing key, and the scrypt cost. Loaded once at boot and frozen.
 */
import { z } from "zod";
import { commonSettings, defineConfig, setting, type ConfigOf } from "@colmena/runtime";

const seconds = (def: number) => z.coerce.number().int().min(1).default(def);

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
  accessTtlS: setting("COLMENA_ACCESS_TTL_S", seconds(900), "access token lifetime, seconds"),
  refreshTtlS: setting("COLMENA_REFRESH_TTL_S", seconds(30 * 24 * 3600), "refresh token lifetime, seconds (renewed on every rotation)"),
  jwtPrivateKey: setting("COLMENA_JWT_PRIVATE_KEY", z.string().optional(), "Ed25519 private key (PEM); default: the cluster-wide key kept in KV"),
  scryptN: setting("COLMENA_SCRYPT_N", scryptCost, "scrypt cost N for new password hashes (power of two)"),
};

export const authConfig = defineConfig(authSettings);
export type AuthConfig = ConfigOf<typeof authSettings>;
