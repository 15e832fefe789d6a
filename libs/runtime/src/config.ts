/**
 * Configuration from the environment, validated once at boot with zod and
 * frozen. Every setting names its variable, default and meaning beside its
 * schema; every `COLMENA_*` variable that no loaded config knows is warned about.
 */
import { hostname } from "node:os";
import { z } from "zod";
import { validationError } from "@colmena/protocol";

export interface Setting<T extends z.ZodType = z.ZodType> {
  env: string;
  schema: T;
  doc: string;
}
export type Settings = Record<string, Setting>;
export type ConfigOf<S extends Settings> = Readonly<{ [K in keyof S]: z.output<S[K]["schema"]> }>;

const knownEnv = new Set<string>();

/** Declares a setting; `schema` should carry its default. */
export function setting<T extends z.ZodType>(env: string, schema: T, doc: string): Setting<T> {
  knownEnv.add(env);
  return { env, schema, doc };
}

export interface ConfigDef<S extends Settings> {
  settings: S;
  load(env?: NodeJS.ProcessEnv, overrides?: Partial<{ [K in keyof S]: z.input<S[K]["schema"]> }>): ConfigOf<S>;
}

export function defineConfig<S extends Settings>(settings: S): ConfigDef<S> {
  return {
    settings,
    load(env = process.env, overrides = {}) {
      const out: Record<string, unknown> = {};
      for (const [key, s] of Object.entries(settings)) {
        const raw = key in overrides ? (overrides as Record<string, unknown>)[key] : env[s.env];
        const r = s.schema.safeParse(raw === "" ? undefined : raw);
        if (!r.success) {
          const err = validationError(r.error, s.env);
          throw new Error(`invalid configuration: ${s.env}=${JSON.stringify(raw)}: ${err.message}`);
        }
        out[key] = r.data;
      }
      return Object.freeze(out) as ConfigOf<S>;
    },
  };
}

/** `COLMENA_*` variables that no config declared: likely typos. */
export function unknownEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.keys(env).filter((k) => k.startsWith("COLMENA_") && !knownEnv.has(k));
}

export const int = (def: number) => z.coerce.number().int().default(def);
export const bool = (def: boolean) =>
  z
    .union([z.boolean(), z.enum(["true", "false", "1", "0", "yes", "no", "on", "off"])])
    .default(def)
    .transform((v) => v === true || v === "true" || v === "1" || v === "yes" || v === "on");
export const list = () =>
  z
    .string()
    .default("")
    .transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean));

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export const logLevel = (def: (typeof LOG_LEVELS)[number]) => z.enum(LOG_LEVELS).default(def);

/**
 * `COLMENA_NATS_SYNC`: `always` (the default: every write fsynced, design.md
 * section 8), `lazy` (the server's own 2 min flush, written as null), or a duration.
 */
export const natsSync = () =>
  z
    .string()
    .default("always")
    .transform((v, ctx) => {
      v = v.trim();
      if (v === "" || v === "always") return "always";
      if (v === "lazy" || v === "default") return null;
      if (/^\d+(ms|s|m|h)$/.test(v)) return v;
      ctx.addIssue({ code: "custom", message: `must be "always", "lazy" or a duration like "10s"` });
      return z.NEVER;
    });

/** Settings every process shares. */
export const commonSettings = {
  natsUrl: setting("NATS_URL", z.string().default("nats://127.0.0.1:4222"), "NATS server URL(s), comma-separated"),
  natsUser: setting("NATS_USER", z.string().optional(), "this process's NATS user (deploy/nats/accounts.conf: the service's name)"),
  natsPassword: setting("NATS_PASSWORD", z.string().optional(), "that user's NATS password"),
  logLevel: setting("COLMENA_LOG_LEVEL", logLevel("info"), "log level"),
  instance: setting("COLMENA_INSTANCE", z.string().default(`${hostname()}-${process.pid}`), "this instance's readable id"),
  dataDir: setting("COLMENA_DATA_DIR", z.string().optional(), "where read models keep their SQLite files (default: .colmena/data)"),
  requestTimeoutMs: setting("COLMENA_REQUEST_TIMEOUT_MS", int(10_000), "how long the gateway waits for a service"),
  healthPort: setting("COLMENA_HEALTH_PORT", z.coerce.number().int().optional(), "serve /healthz, /readyz and /metrics on this port (services without their own HTTP port)"),
  streamReplicas: setting("COLMENA_STREAM_REPLICAS", int(1), "replicas of each service's streams (3 in production)"),
};
export const commonConfig = defineConfig(commonSettings);
export type CommonConfig = ConfigOf<typeof commonSettings>;

/**
 * Settings of this checkout and machine, needed by library code that no
 * service config reaches (the nats-server installer and launcher, the state
 * folder): validated on first use, then frozen for the life of the process.
 */
export const localSettings = {
  home: setting("COLMENA_HOME", z.string().optional(), "where the local runner keeps its state (default: .colmena in the checkout)"),
  natsServerBin: setting("NATS_SERVER_BIN", z.string().optional(), "the nats-server binary to use before PATH and .colmena/bin"),
  natsInstall: setting("COLMENA_NATS_INSTALL", z.enum(["auto", "never"]).default("auto"), "`never` stops Colmena fetching nats-server from Debian"),
  natsSync: setting("COLMENA_NATS_SYNC", natsSync(), "JetStream sync_interval of the nats-servers Colmena starts: always, lazy, or a duration"),
};
export type LocalConfig = ConfigOf<typeof localSettings>;
const localDef = defineConfig(localSettings);
let local: LocalConfig | undefined;
export function localConfig(): LocalConfig {
  return (local ??= localDef.load());
}
