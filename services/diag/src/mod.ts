/**
 * `diag`: a tiny service that echoes an authenticated request and drives the
 * gateway's channels. It exists for gateway tests and the benchmark; it is
 * not a core service (readiness does not wait for it).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { Headers, diagOps, userChannel } from "@colmena/protocol";
import { ServiceHost, callerOf, publishEvent, type Logger } from "@colmena/runtime";

export interface DiagDeps {
  nc: NatsConnection;
  log: Logger;
}

export interface Diag {
  /** The service instance id (as `$SRV.INFO` reports it). */
  readonly id: string;
  stop(): Promise<void>;
}

/** Starts one `diag` instance (queue group `diag`, so several share the load). */
export async function startDiag({ nc, log }: DiagDeps): Promise<Diag> {
  const host = await ServiceHost.start({ nc, name: "diag", version: "0.1.0", description: "echo and channel diagnostics", log });
  host
    .handle(diagOps["diag.echo"], async (data, ctx) => {
      const user = callerOf(ctx);
      if (data.delay_ms) await sleep(data.delay_ms);
      if (data.set_seq) ctx.setSeq(data.set_seq);
      const minSeq = Number(ctx.headers?.get(Headers.minSeq) || 0);
      return { payload: data.payload ?? null, user_id: user.id, ts: Date.now(), request_id: ctx.requestId, ...(minSeq ? { min_seq: minSeq } : {}) };
    })
    .handle(diagOps["diag.subscribe"], (data, ctx) => {
      callerOf(ctx);
      ctx.subscribe(data.channel);
      return { channel: data.channel };
    })
    .handle(diagOps["diag.unsubscribe"], (data, ctx) => {
      callerOf(ctx);
      ctx.unsubscribe(data.channel);
      return { channel: data.channel };
    })
    .handle(diagOps["diag.push"], (data, ctx) => {
      const user = callerOf(ctx);
      const ch = data.channel === "self" ? userChannel(user.id) : data.channel;
      publishEvent(nc, ch, data.event, data.data ?? {}, { excludeConn: data.exclude_self ? ctx.connId : undefined });
      return {};
    });
  // Resolve only once the server has the endpoints' subscriptions: callers may route to diag at once.
  await nc.flush();
  return { id: host.id, stop: () => host.stop() };
}
