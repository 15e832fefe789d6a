/**
 * Raw sockets for tests and debugging: send arbitrary bytes (malformed frames,
 * oversized lines) and read what comes back, with no protocol logic at all.
 */
import { connect as netConnect, type Socket } from "node:net";
import WebSocket from "ws";

/** Waits for the next queued item, up to `timeoutMs`. */
class Inbox<T> {
  private items: T[] = [];
  private waiter: ((v: T | null) => void) | null = null;
  ended = false;

  push(v: T): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(v);
    } else this.items.push(v);
  }

  end(): void {
    this.ended = true;
    this.waiter?.(null);
    this.waiter = null;
  }

  next(timeoutMs: number, what: string): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    if (this.ended) return Promise.reject(new Error(`connection closed while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no ${what} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (v) => {
        clearTimeout(timer);
        if (v === null) reject(new Error(`connection closed while waiting for ${what}`));
        else resolve(v);
      };
    });
  }
}

export interface RawTcp extends AsyncDisposable {
  readonly socket: Socket;
  write(data: string | Uint8Array): void;
  /** The next line the server sends (without the newline). */
  line(timeoutMs?: number): Promise<string>;
  /** The next line parsed as JSON. */
  json<T = any>(timeoutMs?: number): Promise<T>;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  close(): void;
}

/** A plain TCP connection to `tcp://host:port`. */
export function rawTcp(url: string): Promise<RawTcp> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port) });
    const inbox = new Inbox<string>();
    let tail = "";
    let closedFlag = false;
    const closed = new Promise<void>((r) => socket.on("close", () => { closedFlag = true; inbox.end(); r(); }));
    socket.on("data", (b: Buffer) => {
      const parts = (tail + b.toString("utf8")).split("\n");
      tail = parts.pop() ?? "";
      for (const p of parts) inbox.push(p.replace(/\r$/, ""));
    });
    socket.on("error", (err) => { if (!socket.readyState || socket.connecting) reject(err); });
    socket.once("connect", () => {
      const raw: RawTcp = {
        socket,
        write: (data) => { socket.write(data); },
        line: (timeoutMs = 5_000) => inbox.next(timeoutMs, "line"),
        json: async (timeoutMs = 5_000) => JSON.parse(await inbox.next(timeoutMs, "line")),
        closed,
        isClosed: () => closedFlag,
        close: () => socket.destroy(),
        [Symbol.asyncDispose]: async () => { socket.destroy(); await closed; },
      };
      resolve(raw);
    });
  });
}

export interface RawWs extends AsyncDisposable {
  readonly ws: WebSocket;
  send(data: string | Uint8Array): void;
  /** The next message: text as a string, binary as bytes. */
  message(timeoutMs?: number): Promise<string | Uint8Array>;
  /** The next text message parsed as JSON. */
  json<T = any>(timeoutMs?: number): Promise<T>;
  readonly closed: Promise<void>;
  isClosed(): boolean;
  close(): void;
}

/** A plain WebSocket to `ws://host:port/ws` (with any query or headers the test wants). */
export function rawWs(url: string, headers?: Record<string, string>): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const inbox = new Inbox<string | Uint8Array>();
    let closedFlag = false;
    const closed = new Promise<void>((r) => ws.on("close", () => { closedFlag = true; inbox.end(); r(); }));
    ws.on("message", (b: Buffer, isBinary: boolean) => inbox.push(isBinary ? new Uint8Array(b) : b.toString("utf8")));
    ws.on("error", (err) => { if (ws.readyState === WebSocket.CONNECTING) reject(err); });
    ws.once("open", () => {
      const raw: RawWs = {
        ws,
        send: (data) => ws.send(data, { binary: typeof data !== "string" }),
        message: (timeoutMs = 5_000) => inbox.next(timeoutMs, "message"),
        json: async (timeoutMs = 5_000) => {
          const m = await inbox.next(timeoutMs, "message");
          return JSON.parse(typeof m === "string" ? m : Buffer.from(m).toString("utf8"));
        },
        closed,
        isClosed: () => closedFlag,
        close: () => ws.terminate(),
        [Symbol.asyncDispose]: async () => { ws.terminate(); await closed; },
      };
      resolve(raw);
    });
  });
}
