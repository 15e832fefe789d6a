/**
 * Email: a durable job per email (one notification, or one digest window of
 * a subscription), retried with backoff and dead-lettered after the last
 * try; the publish never waits for it. Sent once: before sending, the job
 * looks for its `sent` marker; right after SMTP accepts, it writes the marker
 * (an entity-log write expecting none, keyed by the job) and only then acks.
 * What remains: a worker that dies after SMTP accepted and before the marker
 * is stored sends again on the redelivery.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import nodemailer from "nodemailer";
import { ColmenaError, type NotificationRecord } from "@colmena/protocol";
import { EntityLog, backoffDelay, counter, runConsumer, type Logger, type RunningConsumer, type WorkMsg } from "@colmena/runtime";
import { EMAIL_DURABLE, NOTIFY_STREAM, allMailJobs, sentSubject, type MailJob, type SentMarker } from "./events.ts";
import type { NotifyQueries } from "./queries.ts";

const emails = counter("colmena_notify_emails_total", "notification emails by outcome", ["outcome"]);

export interface EmailDeps {
  nc: NatsConnection;
  log: Logger;
  queries: NotifyQueries;
  waitForSeq(seq: number, timeoutMs?: number): Promise<void>;
  /** Until the read model has folded everything the stream holds now. */
  catchUp(): Promise<void>;
  smtpUrl?: string;
  from: string;
  attempts: number;
  backoffMs: number;
  backoffMaxMs: number;
  digestGraceMs: number;
  /** Called for a job given up on (tests watch it). */
  onDeadLetter?(job: MailJob, err: unknown): void;
}

function render(job: MailJob, notes: NotificationRecord[]): { subject: string; text: string } {
  const line = (n: NotificationRecord) => `${n.title}${n.body ? `\n${n.body}` : ""}\n(${n.topic}, ${new Date(n.ts).toISOString()})`;
  if (!job.digest) return { subject: notes[0].title, text: line(notes[0]) };
  return { subject: `${notes.length} notification${notes.length === 1 ? "" : "s"} on ${job.topic}`, text: notes.map(line).join("\n\n") };
}

export function startEmail(deps: EmailDeps): Promise<RunningConsumer> {
  const { nc, queries, log } = deps;
  const sent = new EntityLog<SentMarker>(nc, NOTIFY_STREAM);
  const transport = deps.smtpUrl ? nodemailer.createTransport(deps.smtpUrl) : null;

  /** The notifications of a job, or null when it must wait (a digest window still open). */
  async function notesOf(job: MailJob, msg: WorkMsg): Promise<NotificationRecord[] | null> {
    if (!job.digest) {
      await deps.waitForSeq(msg.seq, 20_000);
      const n = job.notification_id ? queries.note(job.notification_id) : undefined;
      return n ? [n] : [];
    }
    const { digest_s, window } = job.digest;
    const start = window * digest_s * 1000;
    const end = start + digest_s * 1000;
    const due = end + deps.digestGraceMs;
    if (Date.now() < due) {
      msg.nak(due - Date.now());
      return null;
    }
    // Everything stored by now is folded before the window is gathered.
    await deps.catchUp();
    return queries.window(job.user_id, job.topic, start, end);
  }

  return runConsumer({
    nc,
    log,
    stream: NOTIFY_STREAM,
    consumers: [{ durable: EMAIL_DURABLE, filterSubjects: [allMailJobs] }],
    concurrency: 4,
    ackWaitMs: 60_000,
    // A digest's wait for its window's end takes one delivery.
    maxDeliver: deps.attempts + 1,
    backoffMs: (n) => backoffDelay(n, deps.backoffMs, deps.backoffMaxMs),
    onDeadLetter: async (msg, err) => {
      emails.inc({ outcome: "dead_letter" });
      const job = msg.json<MailJob>();
      log.error({ job: job.job_id, to: job.email, err: String(err) }, "email given up");
      deps.onDeadLetter?.(job, err);
    },
    handle: async (msg) => {
      const job = msg.json<MailJob>();
      // A plain email's tries are its deliveries; a digest's first delivery only waits for its window.
      const tried = msg.deliveryCount - 1 - (job.digest ? 1 : 0);
      if (tried >= deps.attempts) throw new ColmenaError("unavailable", `not sent after ${deps.attempts} tries`, { retryable: false });
      if (await sent.last(sentSubject(job.job_id))) { emails.inc({ outcome: "already_sent" }); return; }
      const notes = await notesOf(job, msg);
      if (notes === null || notes.length === 0) return;
      if (!transport) throw new ColmenaError("unavailable", "no SMTP server configured (COLMENA_SMTP_URL)");
      const { subject, text } = render(job, notes);
      try {
        await transport.sendMail({ from: deps.from, to: job.email, subject, text, headers: { "X-Colmena-Job": job.job_id } });
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode ?? 0;
        emails.inc({ outcome: "refused" });
        // 5xx: the server will never take it (bad address...); anything else may pass later.
        throw new ColmenaError("unavailable", `SMTP: ${(err as Error).message}`, { retryable: !(code >= 500 && code < 600), cause: err });
      }
      await sent.append(sentSubject(job.job_id), { job_id: job.job_id, ts: Date.now() }, 0, job.job_id);
      emails.inc({ outcome: "sent" });
    },
  });
}
