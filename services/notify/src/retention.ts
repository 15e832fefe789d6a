/**
 * Retention: a notification older than `retentionMs` (COLMENA_NOTIFY_RETENTION_MS)
 * leaves every inbox, the stream and every read model, with the read marks
 * on it; subscriptions, and email jobs still under way, stay. The recipe is
 * the tasks service's (services/tasks/src/retention.ts): one purge below a
 * sequence rather than one per notification, then a marker the read models
 * fold (`notify.ev.purged.notes`), so a replica behind the purge ends up as
 * one rebuilt from the purged stream (ReadModel's `purgesMarked`).
 *
 * `before` is the sequence of the oldest notification still kept (stored
 * within the retention period), or just past what this replica has folded
 * when none is: every notification below it is past retention, and so is
 * every read mark below it (a mark only names notifications stored before
 * it). Every replica runs it, with no election: a purge is idempotent, a
 * repeated marker (the same `before`) is dropped by its message id, and
 * two markers with different bounds fold to the later one.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { EntityLog, counter, retentionCheckEveryMs, type Logger } from "@colmena/runtime";
import type { NatsConnection } from "@nats-io/transport-node";
import { NOTIFY_STREAM, allNotes, allReads, purgedSubject, type PurgedMarker } from "./events.ts";
import type { NotifyQueries } from "./queries.ts";

export interface RetentionOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  queries: NotifyQueries;
  retentionMs: number;
  /** The last stream sequence the read model has folded: nothing after it is known here, so nothing after it goes. */
  foldedSeq(): number;
  log: Logger;
}

const purgedMessages = counter("colmena_notify_retention_purged_messages_total", "NOTIFY messages (notifications and read marks) purged by retention, by this instance");

/** Forgets the notifications past retention; resolves with the bound used, or undefined when nothing was old enough. */
export async function forgetExpired(o: RetentionOptions, marks: EntityLog<PurgedMarker>): Promise<number | undefined> {
  const before = Math.min(o.queries.firstNoteSince(Date.now() - o.retentionMs) ?? Infinity, o.foldedSeq() + 1);
  const oldest = o.queries.oldestNote();
  if (oldest === undefined || oldest >= before) return undefined;
  let purged = 0;
  for (const filter of [allNotes, allReads]) purged += (await o.jsm.streams.purge(NOTIFY_STREAM, { filter, seq: before })).purged;
  purgedMessages.inc(purged);
  await marks.append(purgedSubject, { kind: "purged", before, ts: Date.now() }, undefined, `purged.${before}`);
  o.log.info({ before, purged }, "forgot the notifications past retention");
  return before;
}

/** Runs `forgetExpired` every `retentionCheckEveryMs(retentionMs)` until stopped. */
export function startRetention(o: RetentionOptions): { stop(): void } {
  const marks = new EntityLog<PurgedMarker>(o.nc, NOTIFY_STREAM);
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    forgetExpired(o, marks)
      .catch((err) => o.log.warn({ err }, "retention pass failed; the next one tries again"))
      .finally(() => { running = false; });
  }, retentionCheckEveryMs(o.retentionMs));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
