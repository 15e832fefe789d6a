/**
 * The six ops of protocol.md section 8 on a ServiceHost. Writes go to the
 * stream (subscriptions through the entity log, each expecting its
 * subject's last sequence); reads come from the read model, after the
 * caller's own writes (`Colmena-Min-Seq`, `setSeq`).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import { ColmenaError, badRequest, forbidden, notFound, notifyOps, type NotifyChannel } from "@colmena/protocol";
import { EntityLog, ServiceHost, callerOf, type Logger, type RequestContext } from "@colmena/runtime";
import { NOTIFY_STREAM, newNotificationId, noteSubject, readSubject, subSubject, type NoteEvent, type ReadEvent, type SubscriptionEvent } from "./events.ts";
import { isReserved } from "./model.ts";
import type { NotifyQueries } from "./queries.ts";

export interface NotifyApiDeps {
  nc: NatsConnection;
  log: Logger;
  queries: NotifyQueries;
  waitForSeq(seq: number, timeoutMs?: number): Promise<void>;
}

/** Appends notifications, once each: what the `notify.publish` op and the services' bridges share. */
export class NotePublisher {
  private readonly log: EntityLog<NoteEvent>;

  constructor(nc: NatsConnection, private readonly deps: Pick<NotifyApiDeps, "queries" | "waitForSeq">) {
    this.log = new EntityLog<NoteEvent>(nc, NOTIFY_STREAM);
  }

  /**
   * Stores the notification (expecting its subject empty, with its id as
   * message id, so a repeated publish of a derived id stores nothing new)
   * and answers how many inboxes it reached once the model has folded it.
   */
  async publish(note: NoteEvent): Promise<{ seq: number; recipients: number }> {
    const r = await this.log.append(noteSubject(note.notification_id), note, 0, note.notification_id);
    let seq: number;
    if (r.ok) seq = r.seq;
    else seq = (await this.log.last(noteSubject(note.notification_id)))?.seq ?? 0; // published before: the same notification
    await this.deps.waitForSeq(seq, 10_000);
    return { seq, recipients: this.deps.queries.recipientCount(note.notification_id) ?? 0 };
  }

  /** A user's publish (the op and `POST /v1/notify/<topic>`): open topics only; `data` as validated by the op's schema. */
  async publishAs(user: { id: string }, data: PublishData): Promise<{ notification_id: string; recipients: number; seq: number }> {
    if (isReserved(data.topic)) throw forbidden(`${data.topic.split(".")[0]}.* topics are published only by the services`);
    const id = newNotificationId();
    const note: NoteEvent = {
      notification_id: id, topic: data.topic, title: data.title, ...(data.body !== undefined ? { body: data.body } : {}),
      ...(data.data !== undefined ? { data: data.data } : {}), ts: Date.now(), by: user.id,
    };
    const r = await this.publish(note);
    return { notification_id: id, ...r };
  }
}

export type PublishData = z.output<(typeof notifyOps)["notify.publish"]["request"]>;

export async function startNotifyApi(deps: NotifyApiDeps, notes: NotePublisher, version: string): Promise<ServiceHost> {
  const { nc, queries } = deps;
  const subs = new EntityLog<SubscriptionEvent>(nc, NOTIFY_STREAM);
  const reads = new EntityLog<ReadEvent>(nc, NOTIFY_STREAM);

  /** Appends to a subscription's log, expecting what it read; a concurrent change makes it read again. */
  async function writeSub(ctx: RequestContext, topic: string, next: (last: SubscriptionEvent | null) => SubscriptionEvent): Promise<void> {
    const subject = subSubject(callerOf(ctx).id, topic);
    for (let tries = 0; tries < 5; tries++) {
      const last = await subs.last(subject);
      const r = await subs.append(subject, next(last?.event ?? null), last?.seq ?? 0);
      if (r.ok) { ctx.setSeq(r.seq); return; }
    }
    throw new ColmenaError("conflict", `the subscription to ${topic} keeps changing; try again`);
  }

  return (await ServiceHost.start({ nc, name: "notify", version, log: deps.log, waitForSeq: (s) => deps.waitForSeq(s) }))
    .handle(notifyOps["notify.subscribe"], async (data, ctx) => {
      const user = callerOf(ctx);
      const channels = [...new Set<NotifyChannel>(data.channels ?? ["push"])];
      if (channels.includes("email") && !data.email) throw badRequest("the email channel needs `email`", [{ path: "email", message: "required with channels email" }]);
      if (data.digest_s !== undefined && !channels.includes("email")) throw badRequest("`digest_s` is for email subscriptions", [{ path: "digest_s", message: "needs channels email" }]);
      await writeSub(ctx, data.topic, () => ({
        kind: "subscribed", user_id: user.id, username: user.username, topic: data.topic, channels,
        ...(data.email ? { email: data.email } : {}), ...(data.digest_s !== undefined ? { digest_s: data.digest_s } : {}), ts: Date.now(),
      }));
      return { topic: data.topic, channels };
    })
    .handle(notifyOps["notify.unsubscribe"], async (data, ctx) => {
      await writeSub(ctx, data.topic, (last) => {
        if (!last || last.kind === "unsubscribed") throw notFound(`no subscription to ${data.topic}`);
        return { ...last, kind: "unsubscribed", ts: Date.now() };
      });
      return {};
    })
    .handle(notifyOps["notify.subscriptions"], (_data, ctx) => ({
      subscriptions: queries.subscriptions(callerOf(ctx).id).map((s) => ({
        topic: s.topic, channels: s.channels, ...(s.email ? { email: s.email } : {}), ...(s.digest_s !== undefined ? { digest_s: s.digest_s } : {}), created_at: s.created_at,
      })),
    }))
    .handle(notifyOps["notify.publish"], async (data, ctx) => {
      const r = await notes.publishAs(callerOf(ctx), data);
      ctx.setSeq(r.seq);
      return { notification_id: r.notification_id, recipients: r.recipients };
    })
    .handle(notifyOps["notify.inbox"], (data, ctx) => {
      const { rows, more } = queries.inbox(callerOf(ctx).id, { since: data.since, limit: data.limit ?? 50, unreadOnly: data.unread_only ?? false });
      return { notifications: rows, ...(more && rows.length > 0 ? { next: rows[rows.length - 1].notification_id } : {}) };
    })
    .handle(notifyOps["notify.read"], async (data, ctx) => {
      const user = callerOf(ctx);
      const r = await reads.append(readSubject(user.id), { user_id: user.id, ids: [...new Set(data.notification_ids)], ts: Date.now() }, undefined);
      if (r.ok) ctx.setSeq(r.seq);
      return {};
    });
}
