/**
 * The notify benchmark's client harness, one process for Colmena and for
 * ntfy alike: it opens N subscribers on one topic, publishes on it at a
 * paced rate, and times every delivery from the publish to its arrival at
 * each subscriber (one process publishes and receives, so one clock).
 *
 * Subscribers: Colmena frame connections (one user each, subscribed to the
 * topic, `notify.event` pushes), or HTTP line streams (ntfy's
 * `GET /<topic>/json`, Colmena's `GET /v1/notify/events` NDJSON). Each
 * message carries `~<step>~<t0>~` in its body; receivers find it without
 * parsing the JSON, so the harness costs little per delivery.
 */
import { request as httpRequest, type ClientRequest } from "node:http";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { serveParent } from "../lib/child.ts";
import { FrameClient } from "../lib/frame-client.ts";
import { Samples, summarise, type Summary } from "../lib/stats.ts";

export type OpenArgs =
  | { kind: "frames"; tcpUrl: string; topic: string; count: number; prefix: string }
  | { kind: "http"; url: string; count: number; headers?: Record<string, string>; prefix?: string; tcpUrl?: string; topic?: string };

export type PublishVia = { kind: "frames"; tcpUrl: string; topic: string } | { kind: "http"; url: string; headers?: Record<string, string> };

export interface StepArgs { via: PublishVia; step: number; rate: number; durationMs: number; drainMs: number }
/** `summary`: of every delivery (its rate is deliveries per second, from the first publish to the last delivery). */
export interface StepResult { published: number; errors: number; delivered: number; summary: Summary }

const closers: (() => void)[] = [];
const steps = new Map<number, { samples: Samples; last: number }>();

/** A delivery's body: `~<step>~<t0>~` somewhere in the line. */
function received(line: string): void {
  const a = line.indexOf("~");
  if (a < 0) return;
  const b = line.indexOf("~", a + 1);
  const c = line.indexOf("~", b + 1);
  if (b < 0 || c < 0) return;
  const s = steps.get(Number(line.slice(a + 1, b)));
  if (!s) return;
  const now = performance.now();
  s.samples.add(now - Number(line.slice(b + 1, c)));
  s.last = now;
}

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => { while (i < items.length) await fn(items[i++]); }));
}

/** A Colmena user of its own on a frame connection: registered, logged in, subscribed. */
async function colmenaUser(tcpUrl: string, username: string, topic?: string): Promise<FrameClient & { token: string }> {
  const c = await FrameClient.open(tcpUrl);
  closers.push(() => c.close());
  await c.call("auth.register", { username, password: "bench-password" });
  const login = (await c.call("auth.login", { username, password: "bench-password" })) as { access_token: string };
  if (topic) await c.call("notify.subscribe", { topic });
  return Object.assign(c, { token: login.access_token });
}

/** One HTTP line stream; resolves once the response has begun (and ntfy's `open` line, when it sends one, arrived). */
function httpStream(url: string, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = httpRequest(url, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode}`));
      res.setEncoding("utf8");
      let tail = "";
      resolve();
      res.on("data", (chunk: string) => {
        const text = tail + chunk;
        let start = 0;
        for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
          if (nl > start) received(text.slice(start, nl));
          start = nl + 1;
        }
        tail = text.slice(start);
      });
    });
    req.on("error", reject);
    req.end();
    closers.push(() => req.destroy());
  });
}

async function open(a: OpenArgs): Promise<{ opened: number }> {
  const ids = Array.from({ length: a.count }, (_, i) => i);
  if (a.kind === "frames") {
    const urls = a.tcpUrl.split(","); // several gateways: the subscribers spread over them
    await pool(ids, 64, async (i) => {
      const c = await colmenaUser(urls[i % urls.length], `${a.prefix}${i}`, a.topic);
      c.onEvent = received;
    });
  } else if (a.tcpUrl && a.prefix) {
    // Colmena over HTTP: a user each, its token on its stream.
    const tcpUrl = a.tcpUrl;
    await pool(ids, 64, async (i) => {
      const c = await colmenaUser(tcpUrl, `${a.prefix}${i}`, a.topic);
      await httpStream(a.url, { ...a.headers, authorization: `Bearer ${c.token}` });
      c.close();
    });
  } else await pool(ids, 64, () => httpStream(a.url, a.headers ?? {}));
  return { opened: a.count };
}

/** The publisher of one step: a paced open loop, then a drain until the deliveries stop coming. */
async function runStep(a: StepArgs): Promise<StepResult> {
  const state = { samples: new Samples(), last: 0 };
  steps.set(a.step, state);
  let send: (body: string) => Promise<boolean>;
  if (a.via.kind === "frames") {
    const pub = await colmenaUser(a.via.tcpUrl, `pub${a.step}x${Date.now().toString(36)}`);
    const topic = a.via.topic;
    send = async (body) => (await pub.request("notify.publish", { topic, title: "bench", body })).ok;
  } else {
    const { url, headers } = a.via;
    send = async (body) => (await fetch(url, { method: "POST", body, headers })).ok;
  }
  let published = 0;
  let errors = 0;
  const sends: Promise<void>[] = [];
  const t0 = performance.now();
  const interval = 1000 / a.rate;
  for (let k = 0; ; k++) {
    const due = t0 + k * interval;
    if (due - t0 >= a.durationMs) break;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    published++;
    sends.push(send(`~${a.step}~${performance.now()}~`).then((ok) => { if (!ok) errors++; }, () => { errors++; }));
  }
  await Promise.all(sends);
  // Drain: until nothing arrived for three seconds, or the drain limit. (One second cut steps short
  // on the loaded machine: a fold of several 10,000-recipient notifications holds the services
  // process for longer, and what came after it counted as lost.)
  const end = performance.now() + a.drainMs;
  let count = -1;
  while (performance.now() < end && state.samples.count !== count) {
    count = state.samples.count;
    await sleep(3000);
  }
  steps.delete(a.step);
  // Summarised here: a step of 10,000 subscribers holds millions of samples, too many to send to the parent.
  const seconds = Math.max(0.001, (state.last - t0) / 1000);
  return { published, errors, delivered: state.samples.count, summary: summarise(state.samples.values(), seconds, errors) };
}

serveParent({ pid: process.pid }, {
  open: (a: OpenArgs) => open(a),
  step: (a: StepArgs) => runStep(a),
  close: () => { for (const c of closers.splice(0)) c(); },
  stop: () => { for (const c of closers.splice(0)) c(); },
});
