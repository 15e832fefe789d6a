/**
 * Readable, stable worker ids: `COLMENA_WORKER_ID` when set (a Kubernetes
 * pod name is a good one), else `worker-<hostname>-<n>` with the smallest n
 * that no live worker on this host holds. Ids are claimed in a KV bucket
 * whose keys expire unless refreshed, so a dead worker's n frees itself.
 */
import { hostname } from "node:os";
import type { KV } from "@nats-io/kv";
import type { Logger } from "@colmena/runtime";

export interface WorkerIdClaim {
  id: string;
  release(): Promise<void>;
}

const safeHost = () => hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "host";

export async function claimWorkerId(kv: KV, ttlMs: number, log: Logger, fixed?: string): Promise<WorkerIdClaim> {
  if (fixed) return { id: fixed, release: async () => {} };
  const host = safeHost();
  for (let n = 1; n < 10_000; n++) {
    const id = `worker-${host}-${n}`;
    let rev: number;
    try {
      rev = await kv.create(id, String(process.pid));
    } catch {
      continue; // held by a live worker
    }
    const timer = setInterval(() => {
      kv.update(id, String(process.pid), rev).then(
        (r) => { rev = r; },
        (err) => log.warn({ err, worker: id }, "could not refresh the worker id claim"),
      );
    }, Math.max(250, Math.floor(ttlMs / 3)));
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
