/**
 * Starts a files instance: the FILES stream, the read model, the blob store
 * (`nats` or `s3`), the uploads bucket, the ops, and a periodic collector
 * (unreferenced blobs, orphan pieces, expired uploads' parts). Any number of
 * instances share the work: state is in NATS and the blob store.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKETS, type HttpHandler } from "@colmena/protocol";
import { EntityLog, ReadModel, createOrOpenBucket, ensureStreamRetrying, claimReadModelFile, serveHttpRoutes, type HttpRoutesServer, type Logger } from "@colmena/runtime";
import { startFilesApi } from "./api.ts";
import type { BlobStore } from "./blob-store.ts";
import { masterKeyOf } from "./blob-crypto.ts";
import { Blobs } from "./blobs.ts";
import { filesConfig, type FilesConfig } from "./config.ts";
import { FILES_STREAM, FILES_SUBJECTS, type FileEvent } from "./events.ts";
import { collectAll } from "./gc.ts";
import { FileWrites } from "./file-writes.ts";
import { filesHttpHandlers } from "./http-routes.ts";
import { FileQueries, applyEvent, migrate } from "./model.ts";
import { openNatsBlobStore } from "./nats-blob-store.ts";
import { ShareSigner } from "./share.ts";
import { Uploads } from "./uploads.ts";

export const FILES_VERSION = "0.1.0";

export interface StartFilesDeps {
  nc: NatsConnection;
  log: Logger;
  config?: FilesConfig;
  env?: NodeJS.ProcessEnv;
  /** How often the collector runs (default 10 min) and the age below which nothing is collected (default: the upload TTL). */
  gcEveryMs?: number;
  gcGraceMs?: number;
}

export interface RunningFiles {
  apiId: string;
  blobs: Blobs;
  queries: FileQueries;
  uploads: Uploads;
  /** The HTTP routes this replica serves (calls in flight, for tests). */
  http: HttpRoutesServer;
  /** The route handlers it serves, by route name (tests call them as the bridge does). */
  handlers: Record<string, HttpHandler>;
  /** Runs the collector once now. */
  collect(graceMs?: number): Promise<{ blobs: number; orphanPieces: number; uploads: number }>;
  stop(): Promise<void>;
}

async function openBlobStore(nc: NatsConnection, c: FilesConfig): Promise<BlobStore> {
  if (c.blobStore === "nats") return openNatsBlobStore(nc, BUCKETS.filesBlobs.name, c.streamReplicas);
  if (!c.s3Endpoint || !c.s3AccessKey || !c.s3SecretKey) throw new Error("blob store s3 needs S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY");
  // Loaded only for s3: the minio client and its XML and HTTP stack hold about 25 MiB of a process that never uses them.
  const { openS3BlobStore } = await import("./s3-blob-store.ts");
  return openS3BlobStore({ endpoint: c.s3Endpoint, accessKey: c.s3AccessKey, secretKey: c.s3SecretKey, bucket: c.s3Bucket });
}

export async function startFiles(deps: StartFilesDeps): Promise<RunningFiles> {
  const { nc, log } = deps;
  const config = deps.config ?? filesConfig.load(deps.env);
  if (!config.masterKey) throw new Error("COLMENA_FILES_KEY (64 hex digits) is required: the master key that encrypts stored files");
  const master = masterKeyOf(config.masterKey);
  await ensureStreamRetrying(nc, { name: FILES_STREAM, subjects: FILES_SUBJECTS, num_replicas: config.streamReplicas });
  const blobs = new Blobs(await openBlobStore(nc, config), master);
  // Reads from the stream's leader, not direct gets: any replica of a cluster's stream answers those, and one
  // that lags would tell the replica taking an upload's next chunk that the upload the last chunk moved on
  // (or the one just begun elsewhere) is behind (`conflict`) or missing (`not_found`).
  const kv = await createOrOpenBucket(nc, BUCKETS.filesUploads.name, { ttl: config.uploadTtlMs, history: 1, replicas: config.streamReplicas, allow_direct: false });
  const uploads = new Uploads(kv, blobs.store, master, config.uploadTtlMs);
  const { file, release } = claimReadModelFile("files", config.instance, config.dataDir);
  const model = await ReadModel.open({
    nc, stream: FILES_STREAM, file, name: "files", log, migrate, apply: (db, ev) => applyEvent(db, ev.json<FileEvent>()),
    // A new replica starts from the newest snapshot and folds the tail (libs/runtime/src/read-model-snapshot.ts).
    snapshots: { bucket: BUCKETS.filesSnapshots.name, replicas: config.streamReplicas },
  });
  const queries = new FileQueries(model.db);
  const waitForSeq = (seq: number) => model.waitFor(seq);
  const pathLog = new EntityLog<FileEvent>(nc, FILES_STREAM);
  const share = new ShareSigner(master);
  const host = await startFilesApi({ nc, log, blobs, uploads, pathLog, queries, share, quotaBytes: config.quotaBytes, waitForSeq }, FILES_VERSION);
  const writes = new FileWrites({ pathLog, queries, quotaBytes: config.quotaBytes, waitForSeq });
  const handlers = filesHttpHandlers({ blobs, writes, queries, uploads, share, log, quotaBytes: config.quotaBytes });
  const http = serveHttpRoutes(nc, { service: "files", log, handlers });

  const graceMs = deps.gcGraceMs ?? config.uploadTtlMs;
  const collect = (grace = graceMs) => collectAll(blobs, uploads, (sha) => queries.refCount(sha), grace);
  const timer = setInterval(() => collect().catch((err) => log.warn({ err }, "files garbage collection failed")), deps.gcEveryMs ?? 600_000);
  timer.unref();
  log.info({ blobStore: blobs.store.kind, api: host.id }, "files ready");
  let stopping: Promise<void> | null = null;
  return {
    apiId: host.id,
    blobs,
    queries,
    uploads,
    http,
    handlers,
    collect,
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(timer);
        await http.stop();
        await host.stop();
        await model.close();
        release();
      })()),
  };
}
