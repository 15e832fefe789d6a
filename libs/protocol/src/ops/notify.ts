/**
 * Ops of the `notify` service (protocol.md section 8): durable topic
 * subscriptions with NATS-style wildcards, publishing, an inbox with read
 * state, and the `notify.event` push. Additions to section 8 are marked.
 */
import { z } from "zod";
import { defineEvent } from "../events/define.ts";
import { defineOp } from "./define.ts";

const TOKEN = "[a-z0-9_-]+";
/** A concrete topic: dot-separated tokens of `[a-z0-9_-]`. */
export const TOPIC_RE = new RegExp(`^${TOKEN}(\\.${TOKEN})*$`);
/** A subscription pattern: tokens, `*` for one token, `>` for one or more trailing tokens. */
export const PATTERN_RE = new RegExp(`^(${TOKEN}|\\*)(\\.(${TOKEN}|\\*))*(\\.>)?$|^>$`);

/** Topics whose first token names a service: published only by services, reaching only the user named by the second token. */
export const RESERVED_TOPIC_ROOTS: readonly string[] = ["tasks", "chat", "files", "notify", "auth", "sys"];

export const notifyTopic = z.string().max(256).regex(TOPIC_RE, "a topic: dot-separated tokens of [a-z0-9_-]");
export const notifyPattern = z.string().max(256).regex(PATTERN_RE, "a topic pattern: tokens of [a-z0-9_-], `*` for one token, a final `>` for the rest");

/** Notification ids are produced by the service: `n_` and 32 lowercase hex digits. */
export const notificationId = z.string().regex(/^n_[0-9a-f]{32}$/, "a notification id (n_ and 32 hex digits)");

export const NOTIFY_CHANNELS = ["push", "email"] as const;
export type NotifyChannel = (typeof NOTIFY_CHANNELS)[number];

/** A notification as the inbox and `notify.event` show it. */
export const notificationRecord = z.object({
  notification_id: z.string(),
  topic: z.string(),
  title: z.string(),
  body: z.string().optional(),
  data: z.unknown().optional(),
  ts: z.number().int(),
  read: z.boolean(),
});
export type NotificationRecord = z.infer<typeof notificationRecord>;

export const subscriptionRecord = z.object({
  topic: z.string(),
  channels: z.array(z.enum(NOTIFY_CHANNELS)),
  email: z.string().optional(),
  /** Addition: the digest window of an email subscription, in seconds. */
  digest_s: z.number().int().optional(),
  created_at: z.number().int(),
});

export const notifyOps = {
  "notify.subscribe": defineOp({
    op: "notify.subscribe",
    service: "notify",
    access: "user",
    summary: "Subscribes the caller to a topic pattern (`*` one token, `>` the rest), durably; subscribing again replaces the subscription. `channels`: `push` (default) and/or `email` (then `email` is required). Addition: `digest_s` (60 to 604800) gathers an email subscription's notifications into one email per window of that many seconds.",
    request: z.strictObject({
      topic: notifyPattern,
      channels: z.array(z.enum(NOTIFY_CHANNELS)).min(1).max(2).optional(),
      email: z.string().email().max(254).optional(),
      digest_s: z.number().int().min(1).max(604_800).optional(),
    }),
    reply: z.object({ topic: z.string(), channels: z.array(z.enum(NOTIFY_CHANNELS)) }),
  }),
  "notify.unsubscribe": defineOp({
    op: "notify.unsubscribe",
    service: "notify",
    access: "user",
    summary: "Removes the caller's subscription to exactly this pattern; `not_found` when there is none.",
    request: z.strictObject({ topic: notifyPattern }),
    reply: z.object({}),
  }),
  "notify.subscriptions": defineOp({
    op: "notify.subscriptions",
    service: "notify",
    access: "user",
    idempotent: true, // a read
    summary: "The caller's subscriptions, oldest first.",
    request: z.strictObject({}),
    reply: z.object({ subscriptions: z.array(subscriptionRecord) }),
  }),
  "notify.publish": defineOp({
    op: "notify.publish",
    service: "notify",
    access: "user",
    summary: "Publishes a notification on a concrete topic to every matching subscriber (stored once). Reserved topics (first token a service name) are `forbidden`. `recipients`: the inboxes it reached.",
    request: z.strictObject({
      topic: notifyTopic,
      title: z.string().min(1).max(256),
      body: z.string().max(16 * 1024).optional(),
      data: z.unknown().optional(),
    }),
    reply: z.object({ notification_id: z.string(), recipients: z.number().int() }),
  }),
  "notify.inbox": defineOp({
    op: "notify.inbox",
    service: "notify",
    access: "user",
    idempotent: true, // a read
    summary: "The caller's notifications, oldest first, after `since` (a notification id, or a time in ms). `next` is the `since` of the next page (there may be more). A notification is kept for the service's retention period (`COLMENA_NOTIFY_RETENTION_MS`, 30 days unless set), then leaves every inbox; a `since` naming one no longer kept reads from the oldest kept.",
    request: z.strictObject({
      since: z.union([notificationId, z.number().int().min(0)]).optional(),
      limit: z.number().int().min(1).max(500).optional(),
      unread_only: z.boolean().optional(),
    }),
    reply: z.object({ notifications: z.array(notificationRecord), next: z.string().optional() }),
  }),
  "notify.read": defineOp({
    op: "notify.read",
    service: "notify",
    access: "user",
    summary: "Marks notifications of the caller's inbox read (ids not in it are ignored).",
    request: z.strictObject({ notification_ids: z.array(notificationId).min(1).max(500) }),
    reply: z.object({}),
  }),
};

export const notifyEvents = {
  "notify.event": defineEvent({
    event: "notify.event",
    service: "notify",
    summary: "A notification reached the user's inbox. To every connection of the user; may repeat after a notify replica failed mid-fan-out: drop repeats by `notification_id`.",
    data: notificationRecord,
  }),
};

/**
 * A username as the second token of a reserved topic (`tasks.<token>.done`):
 * unchanged when it is already of `[a-z0-9-]`; otherwise `_` becomes `__`, an
 * uppercase letter `_` and its lowercase, `.` `_d`. One-to-one, so no two
 * users share a token (usernames are of `[A-Za-z0-9_.-]`).
 */
export function userTopicToken(username: string): string {
  return username.replace(/[A-Z_.]/g, (c) => (c === "_" ? "__" : c === "." ? "_d" : `_${c.toLowerCase()}`));
}
