/**
 * A load-generator process: opens N client connections (to a gateway over TCP
 * or WebSocket, straight to NATS, or BullMQ on Redis), runs a closed-loop,
 * paced or fixed-count workload,
 * and hands the raw latencies back to the parent. It also holds idle
 * WebSocket connections for the memory measurement.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { serveParent, memoryNow } from "../lib/child.ts";
import { FrameClient } from "../lib/frame-client.ts";
import { closedLoop, countedLoop, pacedLoop, type LoadResult, type Op } from "../lib/load.ts";
import { openBullmqClients } from "../peers/bullmq.ts";

/** Where the requests go and what they carry. */
export interface Target {
  /** `tcp://h:p` or `ws://h:p/ws` for a gateway; `nats://h:p` for raw NATS; `redis://h:p` for BullMQ (data.input is uppercased). */
  url: string;
  /** A Colmena op (gateway) or a subject (NATS). */
  op: string;
  data?: unknown;
  /** An access token each gateway connection presents with `auth.token` before the run (several: connection i presents token i mod n). */
  token?: string | string[];
  concurrency: number;
  /** NATS only: how many connections the concurrent requesters share (default: one each). */
  connections?: number;
}

export interface RunArgs extends Target {
  warmupMs: number;
  durationMs: number;
  /** When set, an open-loop run at this many requests per second. */
  rate?: number;
  /** When set, a fixed-count run of this many ops (after `warmupPerClient` each), instead of a timed one. */
  total?: number;
  warmupPerClient?: number;
}

export interface RunResult extends LoadResult {
  firstError?: string;
}

async function openClients(t: Target): Promise<{ ops: Op[]; close: () => Promise<void>; firstError: () => string | undefined }> {
  let firstError: string | undefined;
  if (t.url.startsWith("redis:")) {
    const b = await openBullmqClients(t.url, t.concurrency, (t.data as { input: string }).input);
    return { ops: b.ops, close: b.close, firstError: () => undefined };
  }
  if (t.url.startsWith("nats:")) {
    const n = Math.max(1, Math.min(t.concurrency, t.connections ?? t.concurrency));
    const conns: NatsConnection[] = await Promise.all(Array.from({ length: n }, () => connect({ servers: t.url, name: "bench-requester" })));
    const body = JSON.stringify(t.data ?? {});
    const ops = Array.from({ length: t.concurrency }, (_, i): Op => {
      const nc = conns[i % n];
      return () =>
        nc.request(t.op, body, { timeout: 10_000 }).then(
          () => true,
          (e: Error) => ((firstError ??= e.message), false),
        );
    });
    return { ops, firstError: () => firstError, close: async () => void (await Promise.all(conns.map((c) => c.close()))) };
  }
  const clients = await openGatewayClients(t.url, t.concurrency);
  const tokens = t.token === undefined ? [] : [t.token].flat();
  if (tokens.length > 0) await Promise.all(clients.map((c, i) => c.call("auth.token", { access_token: tokens[i % tokens.length] })));
  const ops = clients.map(
    (c): Op =>
      () =>
        c.request(t.op, t.data).then((f) => {
          if (!f.ok) firstError ??= `${f.error?.code}: ${f.error?.message}`;
          return f.ok;
        }),
  );
  return { ops, firstError: () => firstError, close: async () => clients.forEach((c) => c.close()) };
}

/** Opens `count` connections, at most 100 handshakes at a time (a burst of thousands overflows accept queues). */
async function openGatewayClients(url: string, count: number): Promise<FrameClient[]> {
  const out: FrameClient[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => FrameClient.open(url)));
    out.push(...batch);
  }
  return out;
}

let idle: FrameClient[] = [];

serveParent({ pid: process.pid }, {
  run: async (a: RunArgs): Promise<RunResult> => {
    const { ops, close, firstError } = await openClients(a);
    try {
      const r = a.total
        ? await countedLoop(ops, { total: a.total, warmupPerClient: a.warmupPerClient ?? 0, maxErrors: Math.max(16, a.total / 100) })
        : a.rate
          ? await pacedLoop(ops, { rate: a.rate, durationMs: a.durationMs, warmupMs: a.warmupMs })
          : await closedLoop(ops, { durationMs: a.durationMs, warmupMs: a.warmupMs });
      return { ...r, firstError: firstError() };
    } finally {
      await close();
    }
  },
  /** Opens idle connections and keeps them until `closeIdle`; each sends one `ping` so it is fully set up. */
  openIdle: async (a: { url: string; count: number }) => {
    const opened = await openGatewayClients(a.url, a.count);
    idle.push(...opened);
    for (let i = 0; i < opened.length; i += 500) await Promise.all(opened.slice(i, i + 500).map((c) => c.call("ping")));
    return { open: idle.length };
  },
  closeIdle: async () => {
    for (const c of idle) c.close();
    idle = [];
    return null;
  },
  memory: () => memoryNow(),
});
