/**
 * A Colmena service on `@nats-io/services`: one endpoint per op of the
 * registry, a queue group per service (so replicas share the load), zod
 * validation of `data`, the gateway's headers turned into a RequestContext,
 * and ColmenaError turned into `Nats-Service-Error-Code` plus a JSON error body.
 * A request marked `Colmena-Encoding: msgpack` (a MessagePack client's, via
 * the gateway) is MessagePack and is answered in MessagePack, so binary fields
 * travel raw; a JSON reply writes bytes as base64.
 * Every reply fits the server's `max_payload`: one that would not becomes a
 * small `internal` error, and nothing a request does can escape as a rejection.
 */
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { natsOutage } from "./nats-outage.ts";
import { Svcm, type Service, type ServiceMsg } from "@nats-io/services";
import type { z } from "zod";
import type { Logger } from "pino";
import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import { ColmenaError, Headers, MSGPACK_ENCODING, SERVICE_KEEPALIVE_MS, bytesAsBase64, clip, opSubject, parseWith, statusOf, type OpDef } from "@colmena/protocol";
import { isOverMaxPayload, maxPayloadOf } from "./max-payload.ts";
import { histogram } from "./metrics.ts";

export interface Caller {
  id: string;
  username: string;
}

/** What a handler knows of the request beyond its data, and how it shapes the reply. */
export interface RequestContext {
  requestId: string;
  /** The authenticated user, from the gateway's `Colmena-User` headers. */
  user?: Caller;
  /** The client connection id, for excluding it from its own pushes. */
  connId?: string;
  log: Logger;
  headers: MsgHdrs | undefined;
  /** Ask the gateway to subscribe the calling connection to a channel. */
  subscribe(channel: string): void;
  unsubscribe(channel: string): void;
  /** Report the stream sequence of this write (`Colmena-Seq`), for read-your-writes. */
  setSeq(seq: number): void;
}

/** The caller of an op whose access is `user`: present, or the host answered `unauthorized`. */
export function callerOf(ctx: RequestContext): Caller {
  if (!ctx.user) throw new ColmenaError("unauthorized", "not logged in");
  return ctx.user;
}

export type OpHandler<D extends OpDef> = (data: z.output<D["request"]>, ctx: RequestContext) => Promise<z.input<D["reply"]>> | z.input<D["reply"]>;

export interface ServiceHostOptions {
  nc: NatsConnection;
  name: string;
  version: string;
  description?: string;
  log: Logger;
  /** Waits until the read model has applied a sequence (session consistency). */
  waitForSeq?: (seq: number) => Promise<void>;
}

interface EndpointStats {
  requests: number;
  errors: number;
  lastError?: string;
  totalNanos: number;
}

const latency = histogram("colmena_service_request_seconds", "time a service takes to answer an op", ["op", "outcome"], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]);

export class ServiceHost {
  private service!: Service;
  private readonly stats = new Map<string, EndpointStats>();
  private inflight = 0;
  private idle: (() => void) | null = null;
  /** Requests under way and when each began: the long ones get `Colmena-Working` keepalives. */
  private readonly working = new Map<ServiceMsg, number>();
  private beat: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: ServiceHostOptions) {}

  static async start(opts: ServiceHostOptions): Promise<ServiceHost> {
    const host = new ServiceHost(opts);
    host.service = await new Svcm(opts.nc as never).add({
      name: opts.name,
      version: opts.version,
      description: opts.description ?? opts.name,
      queue: opts.name,
      // The library times only the synchronous part of a callback and never
      // counts respondError; our handlers are async, so we keep the real
      // figures and hand them to its stats (what `$SRV.STATS` and `nats micro` show).
      statsHandler: async (ep) => {
        const s = host.stats.get((ep as unknown as { name: string }).name);
        const st = (ep as unknown as { stats?: Record<string, unknown> }).stats;
        if (s && st) {
          st.num_requests = s.requests;
          st.num_errors = s.errors;
          st.last_error = s.lastError;
          st.processing_time = s.totalNanos;
          st.average_processing_time = s.requests ? Math.round(s.totalNanos / s.requests) : 0;
        }
        return null;
      },
    });
    return host;
  }

  get id(): string {
    return this.service.info().id;
  }

  /** Serves one op of the registry. */
  handle<D extends OpDef>(def: D, handler: OpHandler<D>): this {
    if (def.service !== this.opts.name) throw new Error(`op ${def.op} belongs to ${def.service}, not ${this.opts.name}`);
    const stats: EndpointStats = { requests: 0, errors: 0, totalNanos: 0 };
    // Endpoint names allow only [-\w]; the op itself travels in the metadata.
    const name = def.op.replaceAll(".", "_");
    this.stats.set(name, stats);
    this.service.addEndpoint(name, {
      subject: opSubject(def.op),
      metadata: { op: def.op, access: def.access },
      handler: (err, msg) => {
        if (err) return;
        // run() answers every request itself; a rejection here is a bug, logged rather than left floating.
        this.run(def, handler, msg, stats).catch((e) => this.opts.log.error({ err: e, op: def.op }, "request handling failed"));
      },
    });
    return this;
  }

  private async run<D extends OpDef>(def: D, handler: OpHandler<D>, msg: ServiceMsg, stats: EndpointStats): Promise<void> {
    const start = process.hrtime.bigint();
    this.inflight++;
    // Only a caller that asks (the gateway) gets keepalives: to any other, the first message is the reply.
    if (msg.headers?.get(Headers.working)) {
      this.working.set(msg, Date.now());
      this.beat ??= setInterval(() => this.keepalive(), SERVICE_KEEPALIVE_MS).unref();
    }
    const h = msg.headers;
    const requestId = h?.get(Headers.requestId) || `svc-${start.toString(36)}`;
    // A child logger costs more than most requests' own work: made on first use.
    let log: Logger | undefined;
    const logger = () => (log ??= this.opts.log.child({ req: requestId, op: def.op }));
    const reply = natsHeaders();
    let outcome = "ok";
    const userId = h?.get(Headers.user);
    const ctx: RequestContext = {
      requestId,
      user: userId ? { id: userId, username: h!.get(Headers.username) } : undefined,
      connId: h?.get(Headers.conn) || undefined,
      get log() {
        return logger();
      },
      headers: h,
      subscribe: (ch) => reply.append(Headers.subscribe, ch),
      unsubscribe: (ch) => reply.append(Headers.unsubscribe, ch),
      setSeq: (seq) => reply.set(Headers.seq, String(seq)),
    };
    try {
      if (def.access !== "public" && !ctx.user) throw new ColmenaError("unauthorized", "not logged in");
      const msgpack = h?.get(Headers.encoding) === MSGPACK_ENCODING;
      const data = parseWith(def.request, msg.data.length ? (msgpack ? msgpackDecode(msg.data) : msg.json()) : {}) as z.output<D["request"]>;
      const minSeq = Number(h?.get(Headers.minSeq) || 0);
      if (minSeq > 0 && this.opts.waitForSeq) await this.opts.waitForSeq(minSeq);
      const result = await handler(data, ctx);
      if (msgpack) reply.set(Headers.encoding, MSGPACK_ENCODING);
      const body = msgpack ? msgpackEncode(result ?? {}, { ignoreUndefined: true }) : JSON.stringify(result ?? {}, bytesAsBase64);
      try {
        msg.respond(body, { headers: reply });
      } catch (e) {
        if (!isOverMaxPayload(e)) throw e;
        throw new ColmenaError("internal", `the reply to ${def.op} is ${typeof body === "string" ? Buffer.byteLength(body) : body.byteLength} bytes, over the ${maxPayloadOf(this.opts.nc)} a NATS message may carry (request ${requestId})`, { cause: e });
      }
    } catch (e) {
      const err = e instanceof ColmenaError ? e
        : natsOutage(e) ? new ColmenaError("unavailable", `a NATS or JetStream dependency did not answer; try again (request ${requestId})`, { cause: e })
        : new ColmenaError("internal", `internal error (request ${requestId})`, { cause: e });
      outcome = err.code;
      if (err.code === "internal") logger().error({ err: e }, "handler failed");
      else if (this.opts.log.isLevelEnabled("debug")) logger().debug({ code: err.code, msg: err.message }, "op refused");
      stats.errors++;
      stats.lastError = `${err.code}: ${err.message}`;
      respondError(msg, err, reply, logger);
    } finally {
      const nanos = process.hrtime.bigint() - start;
      stats.requests++;
      stats.totalNanos += Number(nanos);
      latency.observe({ op: def.op, outcome }, Number(nanos) / 1e9);
      this.working.delete(msg);
      if (--this.inflight === 0 && this.idle) this.idle();
    }
  }

  /**
   * One timer for every request: each that has run half an interval or more
   * gets an empty `Colmena-Working` message, so the gateway can tell a long
   * op (a task waited for) from a replica that died holding it.
   */
  private keepalive(): void {
    if (this.working.size === 0) {
      clearInterval(this.beat);
      this.beat = undefined;
      return;
    }
    const old = Date.now() - SERVICE_KEEPALIVE_MS / 2;
    for (const [msg, began] of this.working) {
      if (began > old) continue;
      try {
        msg.respond(new Uint8Array(0), { headers: WORKING });
      } catch (err) {
        this.opts.log.debug({ err }, "could not send a keepalive");
      }
    }
  }

  /** Stops taking requests and waits (bounded) for the ones under way. */
  async stop(graceMs = 10_000): Promise<void> {
    await this.service.stop();
    if (this.inflight > 0) {
      await Promise.race([
        new Promise<void>((r) => (this.idle = r)),
        new Promise((r) => setTimeout(r, graceMs).unref()),
      ]);
    }
    clearInterval(this.beat);
    this.beat = undefined;
  }
}

const WORKING = natsHeaders();
WORKING.set(Headers.working, "1");

/** The header form of an error message: one line, short (the body carries the rest). */
const headerText = (message: string) => clip(message.replace(/[\r\n]+/g, " "), 256);

/**
 * Answers with an error; never throws. The error's message and details are
 * bounded, but headers the handler set (channels, seq) count too: if the
 * reply still does not fit, a bare `internal` goes without them.
 */
function respondError(msg: ServiceMsg, err: ColmenaError, reply: MsgHdrs, logger: () => Logger): void {
  try {
    msg.respondError(statusOf(err.code), headerText(err.message), JSON.stringify(err.toBody()), { headers: reply });
    return;
  } catch (e) {
    logger().error({ err: e, code: err.code }, "could not send an error reply; sending a bare one");
  }
  try {
    const bare = new ColmenaError("internal", "the error reply did not fit in a NATS message");
    msg.respondError(statusOf(bare.code), bare.message, JSON.stringify(bare.toBody()));
  } catch (e) {
    logger().error({ err: e }, "could not send even a bare error reply");
  }
}

