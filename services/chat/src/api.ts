/**
 * The chat ops of protocol.md section 6 on a ServiceHost. Reads come from
 * this replica's read model; writes go to the CHAT stream and report their
 * sequence (`Colmena-Seq`), so the caller's next op on any replica sees them.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, LOBBY, badRequest, channel, chatOps, conflict, dmRoom, forbidden, notFound, userChannel } from "@colmena/protocol";
import { ServiceHost, callerOf, publishEvent, type Caller, type EntityLog, type Logger, type ReadModel, type RequestContext } from "@colmena/runtime";
import { keySubject, readSubject, roomMember, roomMessages, roomMeta, type ChatEvent } from "./events.ts";
import type { ChatQueries, RoomRow } from "./model.ts";
import type { Presence } from "./presence.ts";
import type { MessageWriter } from "./send.ts";

export interface ChatApiDeps {
  nc: NatsConnection;
  log: Logger;
  events: EntityLog<ChatEvent>;
  model: ReadModel;
  queries: ChatQueries;
  writer: MessageWriter;
  presence: Presence;
  /** The stream's identity: changes only when the history was reset. */
  epoch(): string;
}

const PAGE = 50;

export async function startChatApi(deps: ChatApiDeps, version: string): Promise<ServiceHost> {
  const { nc, log, events, model, queries, writer, presence } = deps;
  const host = await ServiceHost.start({ nc, name: "chat", version, log, description: "rooms, messages, presence, receipts, keys", waitForSeq: (s) => model.waitFor(s) });

  /** The room, if the caller may see it; `member`: also must belong to it (send, history, receipts, typing). */
  const roomFor = (room: string, who: Caller, member: boolean): RoomRow => {
    const r = queries.room(room);
    if (!r) throw notFound(`no room '${room}'`);
    if ((r.private === 1 || member) && !queries.isMember(room, who.username)) throw forbidden(`you are not a member of room '${room}'`);
    return r;
  };
  const wrote = async (ctx: RequestContext, seq: number) => {
    ctx.setSeq(seq);
    await model.waitFor(seq);
  };
  /** Creates a room once (expect 0): the seq of its creation, or 0 when it existed. */
  const create = async (room: string, title: string, priv: boolean, members: string[], by: string): Promise<number> => {
    const r = await events.append(roomMeta(room), { kind: "created", room, title, private: priv, members, by, ts: Date.now() }, 0);
    if (!r.ok) return 0;
    await model.waitFor(r.seq);
    return r.seq;
  };

  host.handle(chatOps["chat.create"], async (d, ctx) => {
    const me = callerOf(ctx);
    if (d.room === LOBBY || queries.room(d.room)) throw conflict(`room '${d.room}' exists`);
    const members = [...new Map([me.username, ...(d.members ?? [])].map((m) => [m.toLowerCase(), m])).values()];
    const seq = await create(d.room, d.title ?? d.room, d.private ?? false, members, me.username);
    if (!seq) throw conflict(`room '${d.room}' exists`);
    ctx.setSeq(seq);
    return { room: d.room, created_at: queries.room(d.room)!.created_at };
  });

  host.handle(chatOps["chat.join"], async (d, ctx) => {
    const me = callerOf(ctx);
    const r = roomFor(d.room, me, false);
    if (!queries.isMember(d.room, me.username)) {
      const a = await events.append(roomMember(d.room), { kind: "joined", room: d.room, username: me.username, ts: Date.now() }, undefined);
      if (a.ok) await wrote(ctx, a.seq);
    }
    if (ctx.connId) await presence.join(d.room, me.username, ctx.connId);
    ctx.subscribe(channel("room", d.room));
    if (d.since_seq !== undefined) {
      // A resume (after a reconnect, or a gateway's `session.resync`): the pushes it missed are stored, but this
      // replica may not have folded the latest yet; read after the room's last stored message, or `missed` could
      // lack one whose push was lost and that no later push or read would bring.
      const last = await events.last(roomMessages(d.room));
      if (last) await model.waitFor(last.seq);
    }
    const base = { room: d.room, last_seq: queries.room(d.room)?.last_seq ?? r.last_seq, epoch: deps.epoch(), online: await presence.online(d.room) };
    if (d.since_seq === undefined) return base;
    const page = queries.page(d.room, PAGE, d.since_seq, undefined, true);
    return { ...base, missed: page.messages, has_more: page.has_more };
  });

  host.handle(chatOps["chat.leave"], async (d, ctx) => {
    const me = callerOf(ctx);
    roomFor(d.room, me, false);
    ctx.unsubscribe(channel("room", d.room));
    if (ctx.connId) await presence.leave(d.room, me.username, ctx.connId);
    return {};
  });

  const content = (d: { body?: string; ciphertext?: string; enc?: Record<string, unknown> }) => {
    if ((d.body === undefined) === (d.ciphertext === undefined)) throw badRequest("exactly one of body or ciphertext is required");
    if (d.enc !== undefined && d.ciphertext === undefined) throw badRequest("enc goes with ciphertext");
  };

  host.handle(chatOps["chat.send"], async (d, ctx) => {
    const me = callerOf(ctx);
    content(d);
    roomFor(d.room, me, true);
    const sent = await writer.send({ ...d, from: me.username, userId: me.id, conn: ctx.connId });
    ctx.setSeq(sent.seq);
    return sent;
  });

  host.handle(chatOps["chat.dm"], async (d, ctx) => {
    const me = callerOf(ctx);
    content(d);
    if (d.to.toLowerCase() === me.username.toLowerCase()) throw badRequest("a direct message needs someone else in `to`");
    const room = await dmRoom(me.username, d.to);
    // Whoever starts it creates it; a racing creation by the other side is the same room.
    if (!queries.room(room) && !(await create(room, `${me.username}, ${d.to}`, true, [me.username, d.to], me.username))) {
      const made = await events.last(roomMeta(room));
      if (made) await model.waitFor(made.seq);
    }
    roomFor(room, me, true);
    const { to: _to, ...rest } = d;
    const sent = await writer.send({ ...rest, room, from: me.username, userId: me.id, conn: ctx.connId });
    ctx.setSeq(sent.seq);
    return sent;
  });

  host.handle(chatOps["chat.history"], (d, ctx) => {
    roomFor(d.room, callerOf(ctx), true);
    return queries.page(d.room, d.limit ?? PAGE, d.after_seq, d.before_seq);
  });

  host.handle(chatOps["chat.rooms"], (_d, ctx) => ({ rooms: queries.rooms(callerOf(ctx).username) }));

  host.handle(chatOps["chat.receipt"], async (d, ctx) => {
    const me = callerOf(ctx);
    roomFor(d.room, me, true);
    const author = queries.author(d.room, d.seq);
    if (!author) throw notFound(`no message ${d.seq} in room '${d.room}'`);
    if (d.kind === "read" && d.seq > queries.readSeq(d.room, me.username)) {
      const a = await events.append(readSubject(d.room, me.username), { kind: "read", room: d.room, username: me.username, seq: d.seq }, undefined);
      if (a.ok) await wrote(ctx, a.seq);
    }
    if (author.user_id && author.user_id !== me.id) publishEvent(nc, userChannel(author.user_id), "chat.receipt", { room: d.room, seq: d.seq, from: me.username, kind: d.kind });
    return {};
  });

  host.handle(chatOps["chat.typing"], (d, ctx) => {
    const me = callerOf(ctx);
    roomFor(d.room, me, true);
    // Ephemeral: core NATS only, never stored.
    publishEvent(nc, channel("room", d.room), "chat.typing", { room: d.room, from: me.username }, { excludeConn: ctx.connId });
    return {};
  });

  host.handle(chatOps["chat.presence"], async (d, ctx) => {
    roomFor(d.room, callerOf(ctx), false);
    return { room: d.room, online: await presence.online(d.room) };
  });

  host.handle(chatOps["chat.keys.publish"], async (d, ctx) => {
    const me = callerOf(ctx);
    const a = await events.append(keySubject(me.username), { kind: "key", username: me.username, key_id: d.key_id, public_key: d.public_key }, undefined);
    if (!a.ok) throw new ColmenaError("internal", "an unconditional append conflicted");
    await wrote(ctx, a.seq);
    return {};
  });

  host.handle(chatOps["chat.keys.get"], (d) => ({ username: d.username, keys: queries.keys(d.username) }));

  return host;
}
