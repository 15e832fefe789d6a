/**
 * The notify service's subjects and event shapes. One stream, NOTIFY:
 *
 *   notify.ev.sub.<user>.<topic_hash>  a user's subscription to one pattern (its actor log:
 *                                      each write expects the subject's last sequence)
 *   notify.ev.note.<notification_id>   a notification, stored once whatever its recipients
 *   notify.ev.read.<user>              notifications the user marked read
 *   notify.ev.mail.<job_id>            an email job (one notification, or one digest window)
 *   notify.ev.sent.<job_id>            that job's email was accepted by SMTP (written once)
 *
 * Inbox membership is not written: every read model derives it when it
 * folds a notification, from the subscriptions folded before it.
 */
import { createHash, randomUUID } from "node:crypto";
import { encodeToken, eventSubject, streamName, type NotifyChannel } from "@colmena/protocol";

export const SERVICE = "notify";
export const NOTIFY_STREAM = streamName(SERVICE);
export const allEvents = `${SERVICE}.ev.>`;

const hash = (s: string, n = 32) => createHash("sha256").update(s).digest("hex").slice(0, n);

export const subSubject = (userId: string, pattern: string) => eventSubject(SERVICE, "sub", encodeToken(userId), hash(pattern, 24));
export const noteSubject = (id: string) => eventSubject(SERVICE, "note", id);
export const readSubject = (userId: string) => eventSubject(SERVICE, "read", encodeToken(userId));
export const mailSubject = (jobId: string) => eventSubject(SERVICE, "mail", jobId);
export const sentSubject = (jobId: string) => eventSubject(SERVICE, "sent", jobId);
/** Retention's marker (retention.ts): the notifications and read marks below `before` were purged. */
export const purgedSubject = eventSubject(SERVICE, "purged", "notes");

export const kindOf = (subject: string) => subject.split(".")[2];
export const allNotes = `${SERVICE}.ev.note.*`;
export const allMailJobs = `${SERVICE}.ev.mail.*`;
/** What the read model folds (not the email jobs and their markers). */
export const allReads = `${SERVICE}.ev.read.*`;
export const foldedSubjects = [`${SERVICE}.ev.sub.>`, allNotes, allReads, purgedSubject];

export const FANOUT_DURABLE = "notify_fanout";
export const EMAIL_DURABLE = "notify_email";

export const newNotificationId = () => `n_${randomUUID().replaceAll("-", "")}`;
/** The id of a notification that must be published once however often its cause is seen (a task's end, a mention). */
export const derivedNotificationId = (cause: string) => `n_${hash(cause)}`;
/** An email job's id: one per notification and subscription, or per digest window of a subscription. */
export const mailJobId = (parts: string[]) => `m_${hash(parts.join("\u0000"))}`;

/** What a subscription is: its owner, its pattern and where it delivers. */
export interface SubscriptionSpec {
  user_id: string;
  username: string;
  topic: string;
  channels: NotifyChannel[];
  email?: string;
  digest_s?: number;
}

export interface SubscriptionEvent extends SubscriptionSpec {
  kind: "subscribed" | "unsubscribed";
  ts: number;
}

export interface NoteEvent {
  notification_id: string;
  topic: string;
  title: string;
  body?: string;
  data?: unknown;
  ts: number;
  /** Who published it: a user id, or a service's name for reserved topics. */
  by: string;
}

export interface ReadEvent {
  user_id: string;
  ids: string[];
  ts: number;
}

/** Folded as: forget the notifications and read marks below stream sequence `before` (purged from the stream just before). */
export interface PurgedMarker {
  kind: "purged";
  before: number;
  ts: number;
}

/** An email to send: one notification, or (`window`) a digest of one subscription's window. */
export interface MailJob {
  job_id: string;
  user_id: string;
  email: string;
  /** The subscription's pattern. */
  topic: string;
  notification_id?: string;
  digest?: { digest_s: number; window: number };
}

export interface SentMarker {
  job_id: string;
  ts: number;
}
