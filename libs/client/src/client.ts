/**
 * The Colmena SDK: one connection to a gateway over TCP, TLS or WebSocket,
 * requests matched to replies by id, pushed events, login state, and
 * automatic reconnection with backoff.
 *
 * After a reconnect the client logs the new connection in again (refreshing
 * an expired access token first) and joins its rooms again. Requests that
 * were in flight when the connection dropped are rejected with `unavailable`
 * and never replayed, unless their op is declared idempotent: the client
 * cannot know whether the server acted on them. Requests made while
 * reconnecting wait for the new connection, up to their timeout.
 *
 * Given several gateway URLs, a reconnect goes to the next one. A gateway
 * that says `session.closing` is left at once: new requests wait for the
 * connection to the next gateway while those in flight are answered on the
 * old one, and a request it refused as not run is sent again on the new one.
 */
import { ColmenaError, type EventFrame, type ReplyFrame, type ServerFrame } from "@colmena/protocol";
import type { Codec } from "./codec.ts";
import { EventHub, type EventHandler, type EventSelector, type TypedEventFrame } from "./events.ts";
import { NotifyRepeats } from "./notify-repeats.ts";
import { CLOSING_EVENT, GatewayList, RESYNC_EVENT, maySendAgain } from "./failover.ts";
import { RoomTracker } from "./rooms.ts";
import { TaskEventFilter } from "./task-events.ts";
import { InFlight } from "./in-flight.ts";
import { nextSession, reauthenticate, type Session } from "./session.ts";
import type { Dialer, TransportOptions } from "./transport.ts";
import type { Transport } from "./transport.ts";

export interface ClientOptions {
  /** `tcp://host:port`, `tls://host:port`, `ws://host:port/ws` or `wss://...`; several gateways' URLs to move between them. */
  url: string | readonly string[];
  /** WebSocket only: `json` (text messages, the default) or `msgpack` (binary messages). */
  codec?: Codec;
  /** An access token to authenticate the connection with right after connecting. */
  token?: string;
  /** A refresh token to go with `token`, so an expired token can be renewed on reconnect. */
  refreshToken?: string;
  /** Reconnect automatically when the connection drops (default true). */
  reconnect?: boolean;
  /** Default time to wait for a reply (default 30 s); a late reply is `timeout`. */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Upper bound of the reconnect backoff (default 5 s). */
  maxReconnectDelayMs?: number;
  tls?: TransportOptions["tls"];
}

export type ClientStatus =
  | { type: "disconnected"; error?: Error }
  | { type: "closing"; reason: string }
  | { type: "reconnected" }
  | { type: "reauthenticated"; username: string }
  | { type: "reauth_failed"; error: Error }
  /** Rejoining a room after a reconnect or `session.resync` failed for good: what it missed there was not emitted. */
  | { type: "resume_failed"; error: Error }
  | { type: "closed" };

export interface RequestOptions {
  timeoutMs?: number;
}

/**
 * The client, whatever the platform: an entry point (mod.ts for Node,
 * browser.ts for browsers) subclasses it with the transports it can open, so
 * a browser bundle never pulls in node:net or the `ws` package.
 */
export class ColmenaClient {
  /** Opens one connection; set by each entry point's subclass. */
  protected static dialer: Dialer = (url) => Promise.reject(new Error(`no transport for ${url.protocol} in this build`));
  private transport: Transport | null = null;
  private state: "open" | "reconnecting" | "closed" = "reconnecting";
  private readonly inFlight = new InFlight();
  private waiters: (() => void)[] = [];
  private readonly hub = new EventHub();
  /** Joined chat rooms: repeats dropped, missed messages fetched after a reconnect. */
  private readonly rooms = new RoomTracker();
  /** Task events: a repeated outcome (same task and `seq`) dropped. */
  private readonly taskEvents = new TaskEventFilter();
  /** Recent notification ids: a repeated `notify.event` is dropped. */
  private readonly notes = new NotifyRepeats();
  private readonly statusListeners = new Set<(s: ClientStatus) => void>();
  private readonly sessionListeners = new Set<(s: Session | null) => void>();
  private currentSession: Session | null = null;
  private wakeBackoff: (() => void) | null = null;
  /** Connections to gateways that said `session.closing`, kept until their requests in flight are answered. */
  private readonly retiring = new Set<Transport>();
  private readonly gateways: GatewayList;
  readonly codec: Codec;

  protected constructor(private readonly opts: ClientOptions) {
    this.gateways = new GatewayList(opts.url);
    this.codec = opts.codec ?? "json";
    if (this.codec === "msgpack" && !this.url.protocol.startsWith("ws")) throw new Error("msgpack frames need a ws:// or wss:// URL");
  }

  /** Connects (and authenticates, when `token` is given); rejects with `unavailable` if the gateway cannot be reached. */
  static async connect(opts: ClientOptions): Promise<ColmenaClient> {
    const client = new this(opts);
    try {
      await client.open();
    } catch (err) {
      throw new ColmenaError("unavailable", `cannot connect to ${opts.url}: ${(err as Error).message}`, { cause: err });
    }
    if (opts.token) {
      try {
        await client.authenticate(opts.token, opts.refreshToken);
      } catch (err) {
        client.close();
        throw err;
      }
    }
    return client;
  }

  /** The gateway URL in use (or tried next). */
  get url(): URL {
    return this.gateways.current;
  }

  /** True while a connection is open (it may be unauthenticated). */
  get connected(): boolean {
    return this.state === "open";
  }

  /** The logged-in user and tokens, or null. */
  get session(): Session | null {
    return this.currentSession;
  }

  /**
   * Sends one request and resolves with the reply's `data`, or rejects with a
   * ColmenaError carrying the error frame's code (`timeout` when no reply comes,
   * `unavailable` when the connection drops first).
   */
  async request<T = unknown>(op: string, data?: Record<string, unknown>, opts: RequestOptions = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.state !== "open") await this.waitOpen(deadline, op);
      try {
        return (await this.send(op, data, deadline - Date.now())) as T;
      } catch (err) {
        if (!maySendAgain(op, err) || this.state === "closed" || Date.now() >= deadline) throw err;
        // Sent again on the next connection; a refusal on an open one (a race with its close) waits a moment.
        if (this.state === "open") await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /**
   * Registers a handler for one event name, or `*` for every event. A
   * registered event's data is typed: `on("task.done", (d) => d.result)`.
   */
  on<E extends string>(event: EventSelector<E>, handler: EventHandler<E>): this {
    this.hub.on(event, handler as (data: unknown, frame: EventFrame) => void);
    return this;
  }

  off<E extends string>(event: EventSelector<E>, handler: EventHandler<E>): this {
    this.hub.off(event, handler as (data: unknown, frame: EventFrame) => void);
    return this;
  }

  /** Events as an async iterator (one name, or all); it ends when the client closes. */
  events<E extends string = "*">(name: EventSelector<E> = "*"): AsyncIterableIterator<TypedEventFrame<E>> {
    return this.hub.iterate(name) as AsyncIterableIterator<TypedEventFrame<E>>;
  }

  /** Connection status changes; returns a function that stops listening. */
  onStatus(fn: (s: ClientStatus) => void): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  /** Called whenever the session changes (login, refresh, logout), e.g. to persist tokens. */
  onSession(fn: (s: Session | null) => void): () => void {
    this.sessionListeners.add(fn);
    return () => this.sessionListeners.delete(fn);
  }

  register(username: string, password: string): Promise<{ user_id: string; username: string }> {
    return this.request("auth.register", { username, password });
  }

  /** Logs this connection in and remembers the tokens. */
  login(username: string, password: string): Promise<{ user_id: string; username: string; access_token: string; refresh_token: string; expires_in: number }> {
    return this.request("auth.login", { username, password });
  }

  /** Authenticates this connection with an access token (and keeps `refreshToken` for later renewals). */
  async authenticate(accessToken: string, refreshToken?: string): Promise<{ user_id: string; username: string }> {
    const reply = await this.request<{ user_id: string; username: string }>("auth.token", { access_token: accessToken });
    if (refreshToken && this.currentSession) this.setSession({ ...this.currentSession, refreshToken });
    return reply;
  }

  /** Exchanges the stored refresh token for new tokens. */
  refresh(): Promise<{ access_token: string; refresh_token: string; expires_in: number }> {
    const token = this.currentSession?.refreshToken;
    if (!token) return Promise.reject(new ColmenaError("unauthorized", "no refresh token: log in first"));
    return this.request("auth.refresh", { refresh_token: token });
  }

  logout(): Promise<Record<string, never>> {
    return this.request("auth.logout");
  }

  whoami(): Promise<{ user_id: string; username: string }> {
    return this.request("auth.whoami");
  }

  ping(): Promise<{ ts: number }> {
    return this.request("ping");
  }

  /** Closes the connection for good: pending requests are rejected, event iterators end. */
  close(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.wakeBackoff?.();
    this.transport?.close();
    this.transport = null;
    for (const t of this.retiring) t.close();
    this.retiring.clear();
    this.inFlight.fail(new ColmenaError("unavailable", "the client was closed"));
    for (const w of this.waiters.splice(0)) w();
    this.hub.end();
    this.emitStatus({ type: "closed" });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---- internals ----

  /** The first connection: each gateway in turn until one answers. */
  private async open(): Promise<void> {
    let last: unknown;
    for (let i = 0; i < this.gateways.urls.length; i++) {
      try {
        const t = await this.dial();
        this.attach(t);
        this.state = "open";
        return;
      } catch (err) {
        last = err;
        this.gateways.next();
      }
    }
    throw last;
  }

  private dial(): Promise<Transport> {
    const topts: TransportOptions = { connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000, tls: this.opts.tls };
    return (this.constructor as typeof ColmenaClient).dialer(this.gateways.current, this.codec, topts);
  }

  private attach(t: Transport): void {
    this.transport = t;
    t.onFrame = (f) => this.dispatch(t, f);
    t.onClose = (err) => this.lost(t, err);
  }

  private dispatch(t: Transport, frame: ServerFrame): void {
    if ("event" in frame) {
      if (frame.event === CLOSING_EVENT) return this.closing(t, frame.data as { reason?: string; reconnect_after_ms?: number });
      // A closing gateway's events count until the next connection is open; then that one carries them.
      if (t !== this.transport && this.state === "open") return;
      if (frame.event === RESYNC_EVENT && t === this.transport && this.state === "open") this.resync(t);
      if (this.rooms.accept(frame) && this.taskEvents.accept(frame) && this.notes.accept(frame)) this.hub.emit(frame);
      return;
    }
    const reply = frame as ReplyFrame;
    if (typeof reply.id !== "number") return; // our ids are numbers; a null id answers a frame we never send
    const p = this.inFlight.take(reply.id);
    if (!p) return;
    if (this.retiring.has(t)) this.retireIfDone(t);
    if (reply.ok) {
      this.setSession(nextSession(this.currentSession, p.op, p.data, reply.data));
      this.rooms.observe(p.op, p.data, reply.data);
      p.resolve(reply.data);
    } else {
      p.reject(ColmenaError.fromBody(reply.error));
    }
  }

  /** Sends on the current connection without waiting for it to be open (used by re-authentication). */
  private send(op: string, data: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown> {
    const t = this.transport;
    if (!t || this.state === "closed") return Promise.reject(new ColmenaError("unavailable", "not connected"));
    return this.inFlight.send(t, op, data, timeoutMs);
  }

  private waitOpen(deadline: number, op: string): Promise<void> {
    if (this.state === "closed") return Promise.reject(new ColmenaError("unavailable", "the client was closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        reject(new ColmenaError("timeout", `not reconnected in time to send ${op}`));
      }, Math.max(0, deadline - Date.now()));
      const wake = () => {
        clearTimeout(timer);
        if (this.state === "open") resolve();
        else reject(new ColmenaError("unavailable", "the client was closed"));
      };
      this.waiters.push(wake);
    });
  }

  private lost(t: Transport, err?: Error): void {
    // Why not replay: a request may have reached the server before the drop; replaying could run it twice.
    const dropped = new ColmenaError("unavailable", "connection lost before the reply came");
    if (this.retiring.delete(t)) {
      this.inFlight.fail(dropped, t);
      // The closing gateway is gone before the next one took over: the client is disconnected meanwhile.
      if (this.state === "reconnecting") this.emitStatus({ type: "disconnected", error: err });
      return;
    }
    if (this.transport !== t) return;
    this.transport = null;
    this.inFlight.fail(dropped, t);
    if (this.state === "closed") return;
    this.emitStatus({ type: "disconnected", error: err });
    if (this.opts.reconnect === false) {
      this.close();
      return;
    }
    this.state = "reconnecting";
    this.gateways.next();
    void this.reconnectLoop();
  }

  /**
   * The gateway is shutting down: new requests wait for the next gateway,
   * the ones in flight are answered on this connection, which is closed
   * once they are.
   */
  private closing(t: Transport, data: { reason?: string; reconnect_after_ms?: number }): void {
    if (t !== this.transport || this.state !== "open" || this.opts.reconnect === false) return;
    this.transport = null;
    this.retiring.add(t);
    this.state = "reconnecting";
    this.emitStatus({ type: "closing", reason: String(data.reason ?? "shutdown") });
    this.gateways.next();
    void this.reconnectLoop(Math.max(0, Number(data.reconnect_after_ms) || 0));
  }

  /** The gateway's own NATS link was cut and is back (`session.resync`): the rooms are joined again from where they were, as after a reconnect. */
  private resync(t: Transport): void {
    const timeout = this.opts.requestTimeoutMs ?? 30_000;
    void this.rooms.rejoin((op, data) => this.send(op, data, timeout), (f) => this.hub.emit(f), () => this.transport === t)
      .catch((err) => this.emitStatus({ type: "resume_failed", error: err as Error }));
  }

  /** Closes a closing gateway's connection once nothing waits on it and the next connection is open. */
  private retireIfDone(t: Transport): void {
    if (this.state !== "open" || this.inFlight.waitsOn(t)) return;
    this.retiring.delete(t);
    t.close();
  }

  private async reconnectLoop(firstDelayMs?: number): Promise<void> {
    const max = this.opts.maxReconnectDelayMs ?? 5_000;
    for (let attempt = 0; this.state === "reconnecting"; attempt++) {
      const backoff = Math.min(max, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
      const delay = attempt === 0 && firstDelayMs !== undefined ? firstDelayMs : backoff;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, delay);
        this.wakeBackoff = () => { clearTimeout(timer); r(); };
      });
      this.wakeBackoff = null;
      if (this.state !== "reconnecting") return;
      let t: Transport;
      try {
        t = await this.dial();
      } catch {
        this.gateways.next();
        continue;
      }
      if (this.state !== "reconnecting") { t.close(); return; }
      this.attach(t);
      this.emitStatus({ type: "reconnected" });
      await this.reauthenticate();
      if (this.transport !== t) continue; // dropped again while re-authenticating
      this.state = "open";
      for (const w of this.waiters.splice(0)) w();
      for (const old of [...this.retiring]) this.retireIfDone(old);
      return;
    }
  }

  /** Logs the new connection in again (session.ts), then joins its rooms again. */
  private async reauthenticate(): Promise<void> {
    if (!this.currentSession) return;
    const timeout = this.opts.requestTimeoutMs ?? 30_000;
    const r = await reauthenticate(() => this.currentSession, (op, data) => this.send(op, data, timeout));
    if (!r.ok) {
      if (r.endsSession) this.setSession(null);
      this.emitStatus({ type: "reauth_failed", error: r.error });
      return;
    }
    this.emitStatus({ type: "reauthenticated", username: r.username });
    try {
      const t = this.transport;
      await this.rooms.rejoin((op, data) => this.send(op, data, timeout), (f) => this.hub.emit(f), () => this.transport === t);
    } catch (err) {
      // A room that can no longer be joined (or a dropped connection): said, and left to the application.
      this.emitStatus({ type: "resume_failed", error: err as Error });
    }
  }

  private setSession(s: Session | null): void {
    if (s === this.currentSession) return;
    this.currentSession = s;
    for (const fn of this.sessionListeners) fn(s);
  }

  private emitStatus(s: ClientStatus): void {
    for (const fn of this.statusListeners) fn(s);
  }
}
