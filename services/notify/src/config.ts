/**
 * The notify service's settings: the common ones plus SMTP and the email
 * job's retries. Loaded once at boot and frozen.
 */
import { z } from "zod";
import { MULTICAST_MAX_CHANNELS } from "@colmena/protocol";
import { commonSettings, defineConfig, setting, type ConfigOf } from "@colmena/runtime";

const ms = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

export const notifySettings = {
  ...commonSettings,
  smtpUrl: setting("COLMENA_SMTP_URL", z.string().optional(), "SMTP server for email subscriptions (smtp://user:pass@host:port); without it emails wait in their job until it is set"),
  smtpFrom: setting("COLMENA_SMTP_FROM", z.string().default("colmena@localhost"), "the From address of notification emails"),
  emailAttempts: setting("COLMENA_NOTIFY_EMAIL_ATTEMPTS", z.coerce.number().int().min(1).max(100).default(8), "tries of one email before it is dead-lettered"),
  emailBackoffMs: setting("COLMENA_NOTIFY_EMAIL_BACKOFF_MS", ms(2000), "first retry delay of an email; doubles each try, with jitter"),
  emailBackoffMaxMs: setting("COLMENA_NOTIFY_EMAIL_BACKOFF_MAX_MS", ms(300_000), "longest retry delay of an email"),
  digestGraceMs: setting("COLMENA_NOTIFY_DIGEST_GRACE_MS", ms(2000, 0), "how long after a digest window ends its email waits for notifications published at its very end"),
  fanoutAckWaitMs: setting("COLMENA_NOTIFY_FANOUT_ACK_WAIT_MS", ms(30_000, 500), "a fan-out silent this long (its replica died) is redone by another"),
  heartbeatMs: setting("COLMENA_NOTIFY_HEARTBEAT_MS", ms(25_000, 10), "longest silence on a GET /v1/notify/events stream: a comment line (SSE) or a blank line (NDJSON) then"),
  fanoutBatch: setting("COLMENA_NOTIFY_FANOUT_BATCH", z.coerce.number().int().min(1).max(MULTICAST_MAX_CHANNELS).default(MULTICAST_MAX_CHANNELS), "recipients per live push of a fan-out: one NATS message each, to every gateway; flushed, and the fan-out's ack_wait restarted, between them"),
  retentionMs: setting("COLMENA_NOTIFY_RETENTION_MS", ms(30 * 24 * 3600_000, 1000), "how long a notification stays in inboxes and in the stream (default 30 days); subscriptions stay until removed"),
  fanoutConcurrency: setting("COLMENA_NOTIFY_FANOUT_CONCURRENCY", z.coerce.number().int().min(1).max(256).default(8), "notifications one instance fans out at once"),
};

export const notifyConfig = defineConfig(notifySettings);
export type NotifyConfig = ConfigOf<typeof notifySettings>;
