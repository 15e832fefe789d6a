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
}

const bucket = (name: string, owner: string, readers: readonly string[] = []): BucketDef => Object.freeze({ name, owner, readers });

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
  /** Who is online in which chat room: a key per joined connection, deleted when it leaves, closes or its gateway dies (with a TTL as a backstop). */
  chatPresence: bucket("colmena_chat_presence", "chat"),
});
