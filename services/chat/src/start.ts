/**
 * Starts the chat service on a NATS connection: the CHAT stream, this
 * replica's read model, presence, the fan-out consumer, the ops, and the
 * line chat when `COLMENA_LINE_CHAT_PORT` is set.
 */
import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKETS } from "@colmena/protocol";
import { EntityLog, ReadModel, ensureStreamRetrying, claimReadModelFile, type Logger, type RunningConsumer, type ServiceHost } from "@colmena/runtime";
import { startChatApi } from "./api.ts";
import { chatConfig, type ChatConfig } from "./config.ts";
import { CHAT_STREAM, allChatEvents, type ChatEvent } from "./events.ts";
import { startFanout } from "./fanout.ts";
import { LineChat } from "./line-chat.ts";
import { ChatQueries, applyEvent, migrate } from "./model.ts";
import { Presence } from "./presence.ts";
import { MessageWriter } from "./send.ts";

export const CHAT_VERSION = "0.1.0";

export interface StartChatDeps {
  nc: NatsConnection;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  overrides?: Parameters<typeof chatConfig.load>[1];
  config?: ChatConfig;
}

export interface RunningChat {
  readonly id: string;
  /** The line chat's port, when it listens. */
  readonly linePort?: number;
  readonly lastSeq: () => number;
  stop(): Promise<void>;
}

export async function startChat(deps: StartChatDeps): Promise<RunningChat> {
  const config = deps.config ?? chatConfig.load(deps.env ?? process.env, deps.overrides);
  const { nc, log } = deps;
  const jsm = await ensureStreamRetrying(nc, { name: CHAT_STREAM, subjects: [allChatEvents], num_replicas: config.streamReplicas });
  // The epoch names the stream's incarnation: a recreated stream (history reset) has a new creation time.
  let epoch = "";
  const readEpoch = async () => {
    const si = await jsm.streams.info(CHAT_STREAM);
    epoch = createHash("sha256").update(si.created).digest("hex").slice(0, 16);
  };
  await readEpoch();
  const epochTimer = setInterval(() => void readEpoch().catch(() => undefined), 5000);
  epochTimer.unref();

  const closers: (() => Promise<unknown> | unknown)[] = [() => clearInterval(epochTimer)];
  let line: LineChat | undefined;
  let host: ServiceHost | undefined;
  let fanout: RunningConsumer | undefined;
  const { file, release } = claimReadModelFile("chat", config.instance, config.dataDir);
  closers.push(release);
  const stopAll = async () => {
    for (const c of closers.reverse()) {
      try { await c(); } catch (err) { log.warn({ err }, "error while stopping chat"); }
    }
  };
  try {
    const model = await ReadModel.open({
      nc, stream: CHAT_STREAM, filterSubjects: [allChatEvents], file, name: "chat", log, migrate,
      // A new replica starts from the newest snapshot and folds the tail (libs/runtime/src/read-model-snapshot.ts).
      snapshots: { bucket: BUCKETS.chatSnapshots.name, replicas: config.streamReplicas },
      apply: (db, stored) => {
        const msg = applyEvent(db, stored);
        if (msg && line) { const l = line; queueMicrotask(() => l.deliver(stored.seq, msg)); }
      },
    });
    closers.push(() => model.close());
    const queries = new ChatQueries(model.db);
    const events = new EntityLog<ChatEvent>(nc, CHAT_STREAM);
    const writer = new MessageWriter(events, queries, model);
    const presence = await Presence.open(nc, log, config.presenceTtlMs, config.streamReplicas);
    closers.push(() => presence.stop());
    fanout = await startFanout(nc, log, config.pushAckWaitMs);
    const f = fanout;
    closers.push(() => f.stop());
    host = await startChatApi({ nc, log, events, model, queries, writer, presence, epoch: () => epoch }, CHAT_VERSION);
    const h = host;
    closers.push(() => h.stop());
    if (config.linePort !== undefined) {
      line = await LineChat.start({ host: config.host, port: config.linePort, writer, log, instance: config.instance, fromSeq: model.lastSeq });
      const l = line;
      closers.push(() => l.stop());
      log.info({ port: line.port }, "line chat listening");
    }
    await nc.flush();
    log.info({ api: host.id, seq: model.lastSeq }, "chat ready");
    let stopping: Promise<void> | null = null;
    return { id: host.id, linePort: line?.port, lastSeq: () => model.lastSeq, stop: () => (stopping ??= stopAll()) };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
