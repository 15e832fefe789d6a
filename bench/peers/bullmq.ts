/**
 * The BullMQ peer of the tasks benchmark: a queue `bench` on the benchmark's
 * Redis, an `uppercase` processor, and the submitting side (add a job, wait
 * until it finishes). BullMQ's defaults otherwise: jobs are locked while a
 * worker runs them and re-run when the lock lapses (a stalled worker), and
 * completed jobs are kept in Redis.
 */
import { Queue, QueueEvents, Worker } from "bullmq";
import type { Op } from "../lib/load.ts";

export const QUEUE = "bench";

function connection(url: string) {
  const u = new URL(url);
  // BullMQ's blocking commands need ioredis to retry forever rather than fail a request.
  return { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null };
}

/** Starts a worker; `concurrency` jobs run at once in this process, as a Colmena worker runs 16 tasks at once. */
export async function startBullmqWorker(url: string, concurrency: number): Promise<{ close(): Promise<void> }> {
  const worker = new Worker(QUEUE, async (job) => String((job.data as { input: string }).input).toUpperCase(), {
    connection: connection(url),
    concurrency,
  });
  await worker.waitUntilReady();
  return { close: () => worker.close() };
}

/**
 * `clients` submitters sharing one Queue (one Redis connection) and one
 * QueueEvents (the completion stream), as one Node process would use BullMQ.
 */
export async function openBullmqClients(url: string, clients: number, input: string): Promise<{ ops: Op[]; close(): Promise<void> }> {
  const queue = new Queue(QUEUE, { connection: connection(url) });
  const events = new QueueEvents(QUEUE, { connection: connection(url) });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  // Each waiting job listens for the close of its Queue and QueueEvents; 16 at once is not a leak.
  queue.setMaxListeners(clients * 4 + 10);
  events.setMaxListeners(clients * 4 + 10);
  const expected = input.toUpperCase();
  const op: Op = async () => {
    try {
      const job = await queue.add("uppercase", { input });
      return (await job.waitUntilFinished(events, 60_000)) === expected;
    } catch {
      return false;
    }
  };
  return {
    ops: Array.from({ length: clients }, () => op),
    close: async () => {
      await events.close();
      await queue.close();
    },
  };
}
