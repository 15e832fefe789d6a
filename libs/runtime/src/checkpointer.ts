/**
 * WAL checkpoints of a read model's SQLite file, run on a worker thread.
 *
 * SQLite checkpoints a WAL database itself when a commit leaves the WAL
 * past 1,000 pages; with `synchronous = NORMAL` that checkpoint fsyncs the
 * WAL and the database, inside the commit. Measured in the tasks benchmark:
 * about one commit in a hundred took 12-18 ms instead of 0.5, and the whole
 * process (the gateway shares it) stood still meanwhile. Here the owner's
 * connection turns automatic checkpoints off and a thread with its own
 * connection runs PASSIVE ones, which never wait for readers or writers, so
 * the fsyncs happen off the event loop. WAL mode lets a checkpoint run
 * beside a writer; the WAL is reused from its start once a checkpoint has
 * copied all of it.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/** Plain CommonJS, so the thread needs no TypeScript loader. */
const THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, timeout: 0 });
const tick = () => { try { db.pragma("wal_checkpoint(PASSIVE)"); } catch { /* busy: the next tick */ } };
const timer = setInterval(tick, workerData.everyMs);
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearInterval(timer);
  db.close();
  parentPort.postMessage("stopped");
});
`;

export class Checkpointer {
  private constructor(private readonly thread: Worker) {}

  /**
   * Turns automatic checkpoints off on `db` and starts the thread; null
   * (automatic checkpoints kept) for an in-memory database or when the
   * thread cannot start.
   */
  static start(db: Database.Database, file: string, everyMs = 1000): Checkpointer | null {
    if (file === ":memory:") return null;
    let thread: Worker;
    try {
      thread = new Worker(THREAD, { eval: true, workerData: { file, everyMs, driver: createRequire(import.meta.url).resolve("better-sqlite3") } });
    } catch {
      return null;
    }
    thread.unref();
    db.pragma("wal_autocheckpoint = 0");
    // If the thread dies, SQLite checkpoints inside commits again.
    thread.on("error", () => { if (db.open) db.pragma("wal_autocheckpoint = 1000"); });
    return new Checkpointer(thread);
  }

  /** Closes the thread's connection first, so the owner's close (the last) checkpoints and removes the WAL. */
  async stop(): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      this.thread.once("message", () => resolve());
      this.thread.once("exit", () => resolve());
      this.thread.once("error", () => resolve());
    });
    this.thread.postMessage("stop");
    await stopped;
    await this.thread.terminate();
  }
}
