/**
 * The services' own notifications, with no code shared with them: notify
 * reads the TASKS and CHAT streams through durables of its own
 * (STREAM_READERS in libs/protocol, which the NATS permissions follow) and
 * publishes `tasks.<user>.done|failed` and `chat.<user>.mention`. Each
 * notification's id derives from its cause, and its write expects an empty
 * subject, so a redelivered event publishes nothing twice; while notify is
 * down the events wait in the durable.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { STREAM_READERS, streamName, userTopicToken, type StreamReaderDef } from "@colmena/protocol";
import { EntityLog, runConsumer, type Logger, type RunningConsumer, type WorkMsg } from "@colmena/runtime";
import type { NotePublisher } from "./api.ts";
import { SERVICE, derivedNotificationId, type NoteEvent } from "./events.ts";

/** What notify reads of a task's events (services/tasks/src/events.ts): its run message carries the submitter. */
interface TaskEventShape { kind: string; task_id: string; ts?: number; error?: string; result?: unknown; username?: string; type?: string }
/** Chat's message event: `{kind|type: "message", room, from, mentions?, text?}`. */
interface ChatEventShape { kind?: string; type?: string; room?: string; from?: string; mentions?: unknown; text?: string; body?: string; ts?: number }

type Bridge = (msg: WorkMsg, nc: NatsConnection) => Promise<NoteEvent[]>;

const tasksBridge: Bridge = async (msg, nc) => {
  const ev = msg.json<TaskEventShape>();
  if (ev.kind !== "done" && ev.kind !== "failed") return [];
  // The submitter's name is on the task's run message (`submitted` or `released`), not on its end.
  const run = await new EntityLog<TaskEventShape>(nc, streamName("tasks")).last(`tasks.ev.run.*.${ev.task_id}`);
  const username = run?.event.username;
  if (!username) return [];
  const what = run.event.type ?? "task";
  return [{
    notification_id: derivedNotificationId(`tasks\u0000${ev.task_id}\u0000${ev.kind}`),
    topic: `tasks.${userTopicToken(username)}.${ev.kind}`,
    title: `${what} ${ev.kind}`,
    ...(ev.kind === "failed" && ev.error ? { body: ev.error } : {}),
    data: { task_id: ev.task_id, type: what, ...(ev.kind === "done" ? { result: ev.result } : {}) },
    ts: ev.ts ?? Date.now(),
    by: "tasks",
  }];
};

const chatBridge: Bridge = async (msg) => {
  const ev = msg.json<ChatEventShape>();
  if ((ev.kind ?? ev.type) !== "message" || !Array.isArray(ev.mentions)) return [];
  const names = [...new Set(ev.mentions.filter((m): m is string => typeof m === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(m)))];
  const text = ev.text ?? ev.body;
  return names.filter((n) => n !== ev.from).map((name) => ({
    notification_id: derivedNotificationId(`chat\u0000${msg.seq}\u0000${name}`),
    topic: `chat.${userTopicToken(name)}.mention`,
    title: `${ev.from ?? "someone"} mentioned you${ev.room ? ` in ${ev.room}` : ""}`,
    ...(typeof text === "string" ? { body: text.slice(0, 1024) } : {}),
    data: { room: ev.room, from: ev.from },
    ts: ev.ts ?? Date.now(),
    by: "chat",
  }));
};

const BRIDGES: { reader: StreamReaderDef; filter: string; notes: Bridge }[] = [
  { reader: STREAM_READERS.notifyTasks, filter: "tasks.ev.task.*", notes: tasksBridge },
  { reader: STREAM_READERS.notifyChat, filter: "chat.ev.room.>", notes: chatBridge },
];

export interface Bridges {
  stop(): Promise<void>;
}

/**
 * Starts every bridge whose stream exists, and keeps trying the others (a
 * service not deployed, or not started yet): after `retryMs`, then twice as
 * long each time, up to a minute.
 */
export function startBridges(nc: NatsConnection, log: Logger, notes: NotePublisher, retryMs = 5000): Bridges {
  const running: RunningConsumer[] = [];
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const start = async (b: (typeof BRIDGES)[number], wait = retryMs) => {
    if (stopped) return;
    try {
      const c = await runConsumer({
        nc,
        log: log.child({ bridge: b.reader.service }),
        stream: streamName(b.reader.service),
        consumers: [{ durable: b.reader.durable, filterSubjects: [b.filter] }],
        concurrency: 4,
        maxDeliver: 10,
        handle: async (msg) => {
          for (const n of await b.notes(msg, nc)) await notes.publish(n);
        },
      });
      if (stopped) await c.stop();
      else running.push(c);
    } catch (err) {
      if (!/stream not found/i.test(String((err as Error).message))) log.warn({ err: String(err), stream: b.reader.service }, "bridge not started; trying again");
      // Looking again less often while the stream stays missing (a service not deployed).
      const t = setTimeout(() => { timers.delete(t); void start(b, Math.min(wait * 2, 60_000)); }, wait);
      t.unref();
      timers.add(t);
    }
  };
  for (const b of BRIDGES) if (b.reader.reader === SERVICE) void start(b);
  return {
    stop: async () => {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await Promise.all(running.map((c) => c.stop()));
    },
  };
}
