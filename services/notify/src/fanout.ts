/**
 * The fan-out: a durable work consumer over the stored notifications,
 * shared by every notify instance. Inbox membership was already decided by
 * the fold (deterministic, in stream order); the fan-out pushes the
 * notification live to every connection of each recipient and queues its
 * email jobs. A replica dying mid-fan-out leaves the message unacked: it is
 * redelivered and done again. Inbox rows and email jobs are keyed, so they
 * come out once; a live push may repeat, and carries its `notification_id`
 * so a client drops the repeat.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { EntityLog, counter, publishEvent, runConsumer, type Logger, type RunningConsumer } from "@colmena/runtime";
import { FANOUT_DURABLE, NOTIFY_STREAM, allNotes, mailJobId, mailSubject, type MailJob } from "./events.ts";
import type { NotifyQueries } from "./queries.ts";

const pushed = counter("colmena_notify_pushed_total", "notify.event pushes to users (repeats after a failed fan-out included)");

export interface FanoutDeps {
  nc: NatsConnection;
  log: Logger;
  queries: NotifyQueries;
  waitForSeq(seq: number, timeoutMs?: number): Promise<void>;
  concurrency: number;
  ackWaitMs: number;
  /**
   * Users per live push: one multicast message (`colmena.push.multicast`,
   * which every gateway delivers to its own connections of those users), not
   * one message per user. Between batches the client's buffer is flushed (a
   * fan-out to 100,000 users does not queue megabytes in this process) and
   * the delivery's ack_wait restarted.
   */
  batch: number;
}

export function startFanout(deps: FanoutDeps): Promise<RunningConsumer> {
  const { nc, queries } = deps;
  const jobs = new EntityLog<MailJob>(nc, NOTIFY_STREAM);
  return runConsumer({
    nc,
    log: deps.log,
    stream: NOTIFY_STREAM,
    consumers: [{ durable: FANOUT_DURABLE, filterSubjects: [allNotes] }],
    concurrency: deps.concurrency,
    ackWaitMs: deps.ackWaitMs,
    handle: async (msg) => {
      // Our model must have folded the notification: then it knows its recipients.
      await deps.waitForSeq(msg.seq, 20_000);
      const id = msg.subject.split(".").pop()!;
      const note = queries.note(id);
      if (!note) return; // forgotten (a rebuild from a purged stream): nothing to deliver
      const users = queries.recipients(id);
      for (let i = 0; i < users.length; i += deps.batch) {
        publishEvent(nc, { users: users.slice(i, i + deps.batch) }, "notify.event", note);
        await nc.flush();
        msg.working();
      }
      pushed.inc(users.length);
      for (const m of queries.mails(id)) {
        const digest = m.digest_s ? { digest_s: m.digest_s, window: Math.floor(m.ts / (m.digest_s * 1000)) } : undefined;
        const jobId = digest ? mailJobId([m.user_id, m.topic, String(digest.digest_s), String(digest.window)]) : mailJobId([id, m.user_id, m.topic]);
        const job: MailJob = { job_id: jobId, user_id: m.user_id, email: m.email, topic: m.topic, ...(digest ? { digest } : { notification_id: id }) };
        // One job per id, ever: a repeated fan-out, or a second notification in the same digest window, adds none.
        await jobs.append(mailSubject(jobId), job, 0, jobId);
      }
    },
  });
}
