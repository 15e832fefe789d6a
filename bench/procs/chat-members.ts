/**
 * The chat benchmark's client harness, the same process for Colmena and for
 * Socket.IO: opens the members (WebSocket connections joined to their
 * rooms) and one sender, then, per step, sends at a fixed rate round-robin
 * over the rooms and measures each delivery's latency from its send (the
 * send time travels in the body; sender and members share this process's
 * clock). Members of both systems are raw WebSockets whose deliveries are
 * recognised by string search, not parsed, so the harness costs as little
 * CPU as it can beside the server it measures, and the same for both; each
 * step reports the harness's CPU so a saturated harness shows.
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

/**
 * A Socket.IO member, as thin as the Colmena one: a raw WebSocket speaking
 * Engine.IO 4 / Socket.IO 5 packets (`0{..}` open, `40` connect, `2`/`3`
 * ping/pong, `42[..]` event, `421[..]`/`431[]` event and ack), its
 * `message` events found by string search. (socket.io-client parsed every
 * delivery's JSON: the harness, not the server, was what saturated first.)
 */
async function socketioMember(url: string, room: string | string[]): Promise<void> {
  const u = new URL(url);
  const ws = new WebSocket(`ws://${u.host}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
  let acked: (() => void) | undefined;
  let connected: (() => void) | undefined;
  ws.on("message", (data: Buffer) => {
    const text = data.toString("utf8");
    if (text.startsWith('42["message"')) {
      const at = text.indexOf(BODY) + BODY.length;
      delivered(text.slice(at, text.indexOf('"', at)));
    } else if (text === "2") ws.send("3");
    else if (text.startsWith("0{")) ws.send("40");
    else if (text.startsWith("40")) connected?.();
    else if (text.startsWith("43")) acked?.();
  });
  await new Promise<void>((resolve, reject) => { connected = resolve; ws.once("error", reject); });
  for (const r of [room].flat()) {
    await new Promise<void>((resolve) => { acked = resolve; ws.send(`421${JSON.stringify(["join", r])}`); });
  }
  closers.push(() => ws.terminate());
}

async function socketioSender(url: string, joined: string[]): Promise<Socket> {
  const s = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await new Promise<void>((resolve, reject) => { s.once("connect", () => resolve()); s.once("connect_error", reject); });
  for (const r of joined) await s.emitWithAck("join", r);
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
    const sender = await socketioSender(a.url, a.rooms);
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
  const cpu0 = process.cpuUsage();
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
  const c = process.cpuUsage(cpu0);
  // The harness's own CPU over the step (one core = 100%): near 100 means it, not the server, set the pace.
  const harnessCpu = (c.user + c.system) / 1000 / (performance.now() - t0) * 100;
  const s = summarise(latencies.values(), sendSeconds);
  return { sent, acked, errors, delivered: s.count, seconds: sendSeconds, p50: s.p50, p99: s.p99, max: s.max, harnessCpu };
}

serveParent({ pid: process.pid }, {
  open: (a: OpenArgs) => open(a),
  step: (a: StepArgs) => runStep(a),
  stop: () => { for (const c of closers) c(); },
});
