/**
 * The service side of the HTTP bridge: a service answers its declared HTTP
 * routes (libs/protocol/src/http) with one handler per route name.
 *
 *   const http = serveHttpRoutes(nc, { service: "files", log, handlers: { content, share } });
 *   ...
 *   await http.stop();
 *
 * Each route's subject is subscribed with queue group = service, so one
 * replica takes each call and keeps it to the end (its own call inbox).
 * `stop()` stops taking calls, ends long-lived responses (clients reconnect,
 * to another replica), waits for the others up to `drainMs`, then aborts
 * what is left.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { httpRouteSubject, httpRoutesOf, type HttpHandler } from "@colmena/protocol";
import type { Logger } from "pino";
import { counter, gauge } from "../metrics.ts";
import { CallInboxes } from "./inboxes.ts";
import { ServiceCall } from "./service-call.ts";
import { Kind, decode, type StartMsg } from "./wire.ts";

export interface ServeHttpRoutesOptions {
  /** The service whose routes these are (HttpRouteDef.service); also the queue group. */
  service: string;
  log: Logger;
  /** A handler per route name; every declared route of the service without one goes unserved (the gateway answers 503). */
  handlers: Readonly<Record<string, HttpHandler>>;
  /** How long `stop()` lets calls in flight finish (default 10 s). */
  drainMs?: number;
}

export interface HttpRoutesServer {
  /** Calls in flight on this replica. */
  inFlight(): number;
  /** Request bytes received and not read by handlers, plus response bytes sent and not acknowledged, over all calls (what flow control bounds). */
  bufferedBytes(): number;
  stop(): Promise<void>;
}

const inFlightGauge = gauge("colmena_http_calls_in_flight", "bridged HTTP calls a replica is serving", ["service", "route"]);
const callsTotal = counter("colmena_http_calls_total", "bridged HTTP calls a replica answered, by status", ["service", "route", "status"]);

export function serveHttpRoutes(nc: NatsConnection, opts: ServeHttpRoutesOptions): HttpRoutesServer {
  const { service, log } = opts;
  const routes = httpRoutesOf(service);
  for (const name of Object.keys(opts.handlers)) {
    if (!routes.some((r) => r.name === name)) throw new Error(`${service} has no declared HTTP route ${name} (libs/protocol/src/http)`);
  }
  const calls = new Set<ServiceCall>();
  const inboxes = new CallInboxes(nc);
  let stopping = false;
  let idle: (() => void) | null = null;

  const take = (route: string, handler: HttpHandler, longLived: boolean, m: Msg) => {
    if (stopping || !m.reply) return;
    const msg = decode(m.data);
    if (msg.kind !== Kind.start) return;
    let start: StartMsg;
    try {
      start = msg.json<StartMsg>();
    } catch {
      return;
    }
    const call = new ServiceCall(nc, start, log, longLived);
    calls.add(call);
    inFlightGauge.inc({ service, route });
    call
      .run(m.reply, inboxes, handler)
      .catch((err) => log.error({ err, route }, "http call failed"))
      .finally(() => {
        calls.delete(call);
        inFlightGauge.dec({ service, route });
        callsTotal.inc({ service, route, status: String(call.status || "aborted") });
        if (calls.size === 0) idle?.();
      });
  };

  const subs: Subscription[] = routes
    .filter((r) => opts.handlers[r.name])
    .map((r) =>
      nc.subscribe(httpRouteSubject(service, r.name), {
        queue: service,
        callback: (err, m) => {
          if (!err) take(r.name, opts.handlers[r.name], r.longLived === true, m);
        },
      }),
    );

  let stopped: Promise<void> | undefined;
  return {
    inFlight: () => calls.size,
    bufferedBytes: () => [...calls].reduce((n, c) => n + c.bufferedBytes + c.unackedBytes, 0),
    stop: () =>
      (stopped ??= (async () => {
        // Calls the server routed here before the unsubscribe are still taken (drain), then no more.
        await Promise.all(subs.map((s) => s.drain().catch(() => undefined)));
        stopping = true;
        for (const c of calls) if (c.longLived) c.close("end", "the service is shutting down");
        if (calls.size > 0) {
          const drained = new Promise<void>((resolve) => (idle = resolve));
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, opts.drainMs ?? 10_000)))]);
          clearTimeout(timer);
          for (const c of calls) c.close("abort", "the service is shutting down");
        }
        inboxes.close();
        await nc.flush().catch(() => undefined);
      })()),
  };
}
