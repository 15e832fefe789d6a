/**
 * Starts the notify service on a NATS connection: the NOTIFY stream, the
 * read model (with its topic index), the ops, the HTTP routes, the fan-out
 * and email work consumers, and the bridges from the tasks and chat streams.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKETS, type HttpHandler } from "@colmena/protocol";
import { jetstreamManager } from "@nats-io/jetstream";
import { ReadModel, claimReadModelFile, ensureStreamRetrying, serveHttpRoutes, type Logger, type RunningConsumer, type ServiceHost } from "@colmena/runtime";
import { startRetention } from "./retention.ts";
import { NotePublisher, startNotifyApi } from "./api.ts";
import { startBridges, type Bridges } from "./bridges.ts";
import { notifyConfig, type NotifyConfig } from "./config.ts";
import { startEmail } from "./email.ts";
import { NOTIFY_STREAM, allEvents, foldedSubjects, type MailJob } from "./events.ts";
import { startFanout } from "./fanout.ts";
import { httpEvents } from "./http-events.ts";
import { httpPublish } from "./http-publish.ts";
import { InboxSignals } from "./inbox-signals.ts";
import { MODEL_VERSION, NotifyModel } from "./model.ts";
import { NotifyQueries } from "./queries.ts";

export const NOTIFY_VERSION = "0.1.0";

export interface StartNotifyDeps {
  nc: NatsConnection;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  overrides?: Parameters<typeof notifyConfig.load>[1];
  config?: NotifyConfig;
  /** Tests: the email jobs given up on. */
  onEmailDeadLetter?(job: MailJob, err: unknown): void;
  /** Tests: how often a bridge whose stream is missing looks again (default 5 s). */
  bridgeRetryMs?: number;
}

export interface RunningNotify {
  readonly apiId: string;
  readonly view: { queries: NotifyQueries; model: NotifyModel; lastSeq(): number };
  /** The handlers of the HTTP routes (libs/protocol http/notify.ts), by route name. */
  readonly http: { events: HttpHandler; publish: HttpHandler };
  stop(): Promise<void>;
}

export async function startNotify(deps: StartNotifyDeps): Promise<RunningNotify> {
  const config = deps.config ?? notifyConfig.load(deps.env ?? process.env, deps.overrides);
  const { nc, log } = deps;
  await ensureStreamRetrying(nc, { name: NOTIFY_STREAM, subjects: [allEvents], num_replicas: config.streamReplicas });
  const { file, release } = claimReadModelFile("notify", config.instance, config.dataDir);
  const signals = new InboxSignals();
  const model = new NotifyModel(signals);
  // Ends every HTTP event stream first when the service stops.
  const streams = new AbortController();
  const closers: (() => Promise<unknown>)[] = [];
  let host: ServiceHost | undefined;
  let queries: NotifyQueries;
  try {
    const rm = await ReadModel.open({
      nc, stream: NOTIFY_STREAM, filterSubjects: foldedSubjects, file, name: "notify", log, version: MODEL_VERSION, migrate: model.migrate, apply: model.apply,
      // Retention purges below a bound, then appends a marker whose fold forgets the same (retention.ts).
      purgesMarked: true,
      // A new replica starts from the newest snapshot and folds the tail (libs/runtime/src/read-model-snapshot.ts); migrate loads the topic index from it.
      snapshots: { bucket: BUCKETS.notifySnapshots.name, replicas: config.streamReplicas },
    });
    closers.push(async () => { await rm.close(); release(); });
    queries = new NotifyQueries(rm.db, model.recent);
    const waitForSeq = (seq: number, timeoutMs?: number) => rm.waitFor(seq, timeoutMs);
    const jsm = await jetstreamManager(nc);
    /** Until this replica has folded everything the stream holds now. */
    const catchUp = async () => waitForSeq((await jsm.streams.info(NOTIFY_STREAM)).state.last_seq, 20_000);
    const notes = new NotePublisher(nc, { queries, waitForSeq });
    const retention = startRetention({ nc, jsm, queries, retentionMs: config.retentionMs, foldedSeq: () => rm.lastSeq, log });
    closers.unshift(async () => retention.stop());
    const consumers: RunningConsumer[] = [];
    closers.unshift(async () => { for (const c of consumers) await c.stop(); });
    consumers.push(await startFanout({ nc, log, queries, waitForSeq, concurrency: config.fanoutConcurrency, ackWaitMs: config.fanoutAckWaitMs, batch: config.fanoutBatch }));
    consumers.push(await startEmail({
      nc, log, queries, waitForSeq, catchUp, smtpUrl: config.smtpUrl, from: config.smtpFrom, attempts: config.emailAttempts,
      backoffMs: config.emailBackoffMs, backoffMaxMs: config.emailBackoffMaxMs, digestGraceMs: config.digestGraceMs, onDeadLetter: deps.onEmailDeadLetter,
    }));
    const bridges: Bridges = startBridges(nc, log, notes, deps.bridgeRetryMs);
    closers.unshift(() => bridges.stop());
    host = await startNotifyApi({ nc, log, queries, waitForSeq }, notes, NOTIFY_VERSION);
    const h = host;
    closers.unshift(() => h.stop());
    const view = { queries, model, lastSeq: () => rm.lastSeq };
    const http = {
      events: httpEvents({ queries, signals, catchUp, lastSeq: () => rm.lastSeq, heartbeatMs: config.heartbeatMs, stopping: streams.signal }),
      publish: httpPublish(notes),
    };
    const routes = serveHttpRoutes(nc, { service: "notify", log, handlers: http });
    closers.unshift(() => routes.stop());
    closers.unshift(async () => streams.abort());
    await nc.flush();
    log.info({ api: host.id, subscriptions: model.index.size }, "notify ready");
    let stopping: Promise<void> | null = null;
    return {
      apiId: host.id,
      view,
      http,
      stop: () =>
        (stopping ??= (async () => {
          for (const close of closers) {
            try { await close(); } catch (err) { log.warn({ err }, "error while stopping notify"); }
          }
        })()),
    };
  } catch (err) {
    for (const close of closers) await close().catch(() => undefined);
    release();
    throw err;
  }
}
