/**
 * Readable, stable worker ids: `COLMENA_WORKER_ID` when set (a Kubernetes
 * pod name is a good one), else `worker-<hostname>-<n>` with the smallest n
 * that no live worker on this host holds. Ids are claimed in a KV bucket
 * whose keys expire unless refreshed, so a dead worker's n frees itself; a
 * fixed id is kept there the same way. So the bucket also says which
 * workers are alive (`isWorkerLive`).
 */
import { hostname } from "node:os";
import type { KV } from "@nats-io/kv";
import { isWrongLastSeq, retryWhileForming, type Logger } from "@colmena/runtime";

export interface WorkerIdClaim {
  id: string;
  release(): Promise<void>;
}

const safeHost = () => hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "host";

export async function claimWorkerId(kv: KV, ttlMs: number, log: Logger, fixed?: string): Promise<WorkerIdClaim> {
  const every = Math.max(250, Math.floor(ttlMs / 3));
  if (fixed) {
    // Nobody else generates this id; kept fresh only so the bucket shows it alive.
    await retryWhileForming(() => kv.put(fixed, String(process.pid)));
    const timer = setInterval(() => kv.put(fixed, String(process.pid)).catch((err) => log.warn({ err, worker: fixed }, "could not refresh the worker id")), every);
    timer.unref();
    return { id: fixed, release: async () => { clearInterval(timer); await kv.delete(fixed).catch(() => undefined); } };
  }
  const host = safeHost();
  for (let n = 1; n < 10_000; n++) {
    const id = `worker-${host}-${n}`;
    let rev: number;
    try {
      // A bucket just created on another node may not be reachable from ours yet: wait for it, not skip ids.
      rev = await retryWhileForming(() => kv.create(id, String(process.pid)));
    } catch (err) {
      if (isWrongLastSeq(err)) continue; // held by a live worker
      throw err; // anything else would fail for every id
    }
    const timer = setInterval(() => {
      kv.update(id, String(process.pid), rev).then(
        (r) => { rev = r; },
        (err) => log.warn({ err, worker: id }, "could not refresh the worker id claim"),
      );
    }, every);
    timer.unref();
    return {
      id,
      release: async () => {
        clearInterval(timer);
        await kv.delete(id, { previousSeq: rev }).catch(() => undefined);
      },
    };
  }
  throw new Error("no free worker id");
}

/** Whether a worker holds its id now (it refreshes it; a dead one's expires, a stopped one's is deleted). */
export async function isWorkerLive(kv: KV, id: string): Promise<boolean> {
  const e = await kv.get(id);
  return !!e && e.operation === "PUT";
}
