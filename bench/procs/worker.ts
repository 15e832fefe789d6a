/**
 * A task-worker process for the tasks benchmark: a Colmena tasks worker
 * (`BENCH_WORKER=colmena`, on `BENCH_NATS_URL`) or a BullMQ worker
 * (`BENCH_WORKER=bullmq`, on `BENCH_REDIS_URL`), each running up to 16 tasks
 * at once. Celery's worker is its own Python process (bench/peers/celery_app.py).
 */
import { connectNats, silentLogger } from "@colmena/runtime";
import { startTasks } from "@colmena/tasks";
import { serveParent } from "../lib/child.ts";
import { startBullmqWorker } from "../peers/bullmq.ts";

export const WORKER_CONCURRENCY = 16;

const kind = process.env.BENCH_WORKER;
let close: () => Promise<unknown>;
let id: string;
if (kind === "colmena") {
  const log = silentLogger();
  const nc = await connectNats({ servers: process.env.BENCH_NATS_URL!, name: "bench-tasks-worker", log });
  const tasks = await startTasks({ nc, log, env: process.env, role: "worker", overrides: { concurrency: WORKER_CONCURRENCY } });
  id = tasks.workerId ?? "?";
  close = async () => {
    await tasks.stop();
    await nc.close();
  };
} else if (kind === "bullmq") {
  const w = await startBullmqWorker(process.env.BENCH_REDIS_URL!, WORKER_CONCURRENCY);
  id = `bullmq-${process.pid}`;
  close = () => w.close();
} else {
  throw new Error(`BENCH_WORKER must be colmena or bullmq, not ${kind}`);
}

serveParent({ id }, { stop: () => close() });
