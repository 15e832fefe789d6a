/**
 * Every KV bucket a service keeps, by name: the service that owns (writes) it
 * and the others that may read it. The NATS users of every deployment are
 * generated from this and the op registry (libs/runtime/src/nats-permissions.ts),
 * so a bucket missing here is one its service's user may not open.
 */
import { GATEWAY_SERVICE } from "./ops/define.ts";

export interface BucketDef {
  name: string;
  /** The service whose user may create, write and read it. */
  owner: string;
  /** Other users that may read (get and watch) it, never write it. */
  readers: readonly string[];
  /** A key-value bucket (the default) or a JetStream object store. */
  kind?: "kv" | "object";
}

const bucket = (name: string, owner: string, readers: readonly string[] = []): BucketDef => Object.freeze({ name, owner, readers });
const objectStore = (name: string, owner: string): BucketDef => Object.freeze({ name, owner, readers: [], kind: "object" as const });

export const BUCKETS = Object.freeze({
  /** Auth's public signing keys (`signing.public.<kid>`), which every gateway watches. */
  authKeys: bucket("colmena_auth_keys", "auth", [GATEWAY_SERVICE]),
  /** Auth's private signing key: apart from the public ones, so that only auth may read it. */
  authPrivate: bucket("colmena_auth_private", "auth"),
  /** Token families auth revoked (logout, refresh-token reuse), each expiring with the access tokens it issued; every gateway watches it. */
  authRevoked: bucket("colmena_auth_revoked", "auth", [GATEWAY_SERVICE]),
  /** The tasks scheduler's leader key (with a TTL). */
  tasksLeader: bucket("TASKS_LEADER", "tasks"),
  /** Where tasks workers claim their readable ids. */
  tasksWorkers: bucket("TASKS_WORKERS", "tasks"),
  /** The files service's encrypted blob pieces, when its blob store is `nats` (the default). */
  filesBlobs: objectStore("colmena_files_blobs", "files"),
  /** Uploads under way (offset, parts), so any files replica takes the next chunk; entries expire with the upload. */
  filesUploads: bucket("colmena_files_uploads", "files"),
  /** Snapshots of the tasks API's read model (SQLite file + the stream seq it covers), so a new replica folds only the tail. */
  tasksSnapshots: objectStore("colmena_tasks_snapshots", "tasks"),
  /** Snapshots of the chat read model (as tasksSnapshots). */
  chatSnapshots: objectStore("colmena_chat_snapshots", "chat"),
  /** Snapshots of the files read model (as tasksSnapshots). */
  filesSnapshots: objectStore("colmena_files_snapshots", "files"),
  /** Snapshots of the notify read model (as tasksSnapshots; the topic index is loaded from the copied tables at open). */
  notifySnapshots: objectStore("colmena_notify_snapshots", "notify"),
  /** Who is online in which chat room: a key per joined connection, deleted when it leaves, closes or its gateway dies (with a TTL as a backstop). */
  chatPresence: bucket("colmena_chat_presence", "chat"),
});

/**
 * A service that reads another's stream through a durable work consumer of
 * its own (read-only: it may pull and ack on that durable, never write the
 * stream). The NATS users are generated from this too.
 */
export interface StreamReaderDef {
  /** The service whose stream is read. */
  service: string;
  reader: string;
  /** The reader's durable on that stream. */
  durable: string;
}

const streamReader = (service: string, reader: string, durable: string): StreamReaderDef => Object.freeze({ service, reader, durable });

export const STREAM_READERS = Object.freeze({
  /** Notify turns finished tasks into `tasks.<username>.done|failed` notifications. */
  notifyTasks: streamReader("tasks", "notify", "notify_tasks"),
  /** Notify turns chat mentions into `chat.<username>.mention` notifications. */
  notifyChat: streamReader("chat", "notify", "notify_chat"),
});
