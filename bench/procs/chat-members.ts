/**
 * The chat benchmark's client harness, the same process for Colmena and for
 * Socket.IO: opens the members (WebSocket connections joined to their
 * rooms) and one sender, then, per step, sends at a fixed rate round-robin
 * over the rooms and measures each delivery's latency from its send (the
 * send time travels in the body; sender and members share this process's
 * clock). Deliveries are recognised by string search, not parsed, so the
 * harness costs as little CPU as it can beside the server it measures.
 */
import { io, type Socket } from "socket.io-client";
import WebSocket from "ws";
import { serveParent } from "../lib/child.ts";
import { FrameClient } from "../lib/frame-client.ts";
import { Samples, summarise } from "../lib/stats.ts";

interface OpenArgs { system: "colmena" | "socketio"; url: string; rooms: string[]; perRoom: number; memberToken?: string; senderToken?: string }
interface StepArgs { rate: number; seconds: number }

let step = 0;
let latencies = new Samples();
let send: ((room: string, body: string) => Promise<boolean>) | undefined;
let rooms: string[] = [];
const closers: (() => void)[] = [];

/** Counts a delivery whose body is `<step>:<send time>`, of the current step only. */
function delivered(body: string): void {
  const colon = body.indexOf(":");
  if (Number(body.slice(0, colon)) !== step) return;
  latencies.add(performance.now() - Number(body.slice(colon + 1)));
}

const BODY = '"body":"';
/** A Colmena member: a raw WebSocket speaking frames; `chat.message` events found by string search. */
async function colmenaMember(url: string, token: string, room: string | string[]): Promise<FrameClient> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const client = new FrameClient((s) => ws.send(s), () => ws.terminate());
  ws.on("message", (data: Buffer) => {
    const text = data.toString("utf8");
    if (text.startsWith('{"event":"chat.message"')) {
      const at = text.indexOf(BODY) + BODY.length;
      delivered(text.slice(at, text.indexOf('"', at)));
    } else client.receive(text);
  });
  await new Promise<void>((resolve, reject) => { ws.once("open", () => resolve()); ws.once("error", reject); });
  await client.call("auth.token", { access_token: token });
  for (const r of [room].flat()) await client.call("chat.join", { room: r });
  closers.push(() => ws.terminate());
  return client;
}

async function socketioMember(url: string, room: string | string[]): Promise<Socket> {
  const s = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await new Promise<void>((resolve, reject) => { s.once("connect", () => resolve()); s.once("connect_error", reject); });
  s.on("message", (m: { body: string }) => delivered(m.body));
  for (const r of [room].flat()) await s.emitWithAck("join", r);
  closers.push(() => s.close());
  return s;
}

/** Opens `tasks` at most `width` at a time (a thousand handshakes at once would time out on a loaded machine). */
async function inBatches(n: number, width: number, open: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i += width) await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, k) => open(i + k)));
}

async function open(a: OpenArgs): Promise<{ members: number }> {
  rooms = a.rooms;
  const n = a.rooms.length * a.perRoom;
  if (a.system === "colmena") {
    await inBatches(n, 50, (i) => colmenaMember(a.url, a.memberToken!, a.rooms[i % a.rooms.length]));
    const sender = await colmenaMember(a.url, a.senderToken!, a.rooms);
    send = async (room, body) => (await sender.request("chat.send", { room, body })).ok;
  } else {
    await inBatches(n, 50, (i) => socketioMember(a.url, a.rooms[i % a.rooms.length]));
    const sender = await socketioMember(a.url, a.rooms);
    send = async (room, body) => (await sender.emitWithAck("send", { room, body }) as { ok: boolean }).ok;
  }
  return { members: n };
}

/** Sends `rate` messages/s for `seconds` (paced from the step's start), then waits for the last deliveries. */
async function runStep(a: StepArgs): Promise<unknown> {
  step++;
  latencies = new Samples();
  let sent = 0, acked = 0, errors = 0;
  const total = Math.round(a.rate * a.seconds);
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * a.rate));
      for (; sent < due; sent++) {
        send!(rooms[sent % rooms.length], `${step}:${performance.now()}`).then((ok) => (ok ? acked++ : errors++), () => errors++);
      }
      if (sent >= total) { clearInterval(tick); resolve(); }
    }, 1);
  });
  const sendSeconds = (performance.now() - t0) / 1000;
  // Deliveries still in flight: wait until they stop coming (or 5 s).
  for (let last = -1, idle = 0; idle < 3 && performance.now() - t0 < sendSeconds * 1000 + 5000;) {
    await new Promise((r) => setTimeout(r, 100));
    if (latencies.count === last) idle++; else { idle = 0; last = latencies.count; }
  }
  const s = summarise(latencies.values(), sendSeconds);
  return { sent, acked, errors, delivered: s.count, seconds: sendSeconds, p50: s.p50, p99: s.p99, max: s.max };
}

serveParent({ pid: process.pid }, {
  open: (a: OpenArgs) => open(a),
  step: (a: StepArgs) => runStep(a),
  stop: () => { for (const c of closers) c(); },
});
