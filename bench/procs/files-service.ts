/**
 * The files service alone in a process (bench/files.ts measures its memory
 * apart from the gateway's), on its own NATS connection, as the runner runs it.
 */
import { connectNats, silentLogger } from "@colmena/runtime";
import { startFiles } from "@colmena/files";
import { serveParent } from "../lib/child.ts";

const log = silentLogger();
const nc = await connectNats({ servers: process.env.BENCH_NATS_URL!, name: "bench-files", log });
const files = await startFiles({ nc, log, env: process.env });

serveParent({ pid: process.pid }, {
  stop: async () => {
    await files.stop();
    await nc.close();
  },
});
