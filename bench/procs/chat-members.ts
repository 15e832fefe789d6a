/**
 * The chat benchmark's client harness, the same process for Colmena and for
 * Socket.IO: opens the members (WebSocket connections joined to their
 * rooms) and one sender, then, per step, sends at a fixed rate round-robin
 * over the rooms and measures each delivery's latency from its send (the
 * send time travels in the body; sender and members share this process's
 * clock). Members of both systems are raw WebSockets (bench/lib/raw-ws.ts)
 * whose deliveries are recognised in the received bytes, not decoded or
 * parsed, so the harness costs as little CPU as it can beside the server it
 * measures, and the same for both; each step reports the harness's CPU so a
 * saturated harness shows.
 */
import { io, type Socket } from "socket.io-client";
import { serveParent } from "../lib/child.ts";
import { FrameClient } from "../lib/frame-client.ts";
import { RawWebSocket } from "../lib/raw-ws.ts";
import { Samples, summarise } from "../lib/stats.ts";

/** `urls`: the server's WebSocket URLs; Colmena members are spread over them (several gateways), the sender uses the first. */
interface OpenArgs { system: "colmena" | "socketio"; urls: string[]; rooms: string[]; perRoom: number; memberToken?: string; senderToken?: string }
interface StepArgs { rate: number; seconds: number }

let step = 0;
let latencies = new Samples();
let send: ((room: string, body: string) => Promise<boolean>) | undefined;
let rooms: string[] = [];
const closers: (() => void)[] = [];

const BODY = Buffer.from('"body":"');
const QUOTE = 0x22;
const COLMENA_DELIVERY = Buffer.from('{"event":"chat.message"');
const SOCKETIO_DELIVERY = Buffer.from('42["message"');

const startsWith = (buf: Buffer, start: number, end: number, prefix: Buffer) =>
  end - start >= prefix.length && buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0;

/** Counts a delivery whose frame, `buf[start, end)`, carries `"body":"<step>:<send time>"`, of the current step only. */
function delivered(buf: Buffer, start: number, end: number): void {
  const at = buf.indexOf(BODY, start);
  if (at < 0 || at >= end) return;
  const from = at + BODY.length;
  const body = buf.toString("latin1", from, buf.indexOf(QUOTE, from));
  const colon = body.indexOf(":");
  if (Number(body.slice(0, colon)) !== step) return;
  latencies.add(performance.now() - Number(body.slice(colon + 1)));
}

/** A Colmena member: frames over a raw WebSocket; `chat.message` events recognised by their first bytes. */
async function colmenaMember(url: string, token: string, room: string | string[]): Promise<FrameClient> {
  let ws: RawWebSocket | undefined;
  const client = new FrameClient((s) => ws!.send(s), () => ws!.terminate());
  ws = await RawWebSocket.open(url, (buf, start, end) => {
    if (startsWith(buf, start, end, COLMENA_DELIVERY)) delivered(buf, start, end);
    else client.receive(buf.toString("utf8", start, end));
  });
  await client.call("auth.token", { access_token: token });
  for (const r of [room].flat()) await client.call("chat.join", { room: r });
  closers.push(() => ws!.terminate());
  return client;
}

/**
 * A Socket.IO member, as thin as the Colmena one: a raw WebSocket speaking
 * Engine.IO 4 / Socket.IO 5 packets (`0{..}` open, `40` connect, `2`/`3`
 * ping/pong, `42[..]` event, `421[..]`/`431[]` event and ack), its
 * `message` events recognised by their first bytes. (socket.io-client
 * parsed every delivery's JSON: the harness, not the server, was what
 * saturated first.)
 */
async function socketioMember(url: string, room: string | string[]): Promise<void> {
  const u = new URL(url);
  let acked: (() => void) | undefined;
  let connected: (() => void) | undefined;
  const isConnected = new Promise<void>((resolve) => (connected = resolve));
  const ws = await RawWebSocket.open(`ws://${u.host}/socket.io/?EIO=4&transport=websocket`, (buf, start, end, self) => {
    if (startsWith(buf, start, end, SOCKETIO_DELIVERY)) return delivered(buf, start, end);
    const text = buf.toString("utf8", start, end);
    if (text === "2") self.send("3");
    else if (text.startsWith("0{")) self.send("40");
    else if (text.startsWith("40")) connected?.();
    else if (text.startsWith("43")) acked?.();
  });
  await isConnected;
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
    // Each room's members spread over the gateways, as a load balancer would place them.
    await inBatches(n, 50, (i) => colmenaMember(a.urls[Math.floor(i / a.rooms.length) % a.urls.length], a.memberToken!, a.rooms[i % a.rooms.length]));
    const sender = await colmenaMember(a.urls[0], a.senderToken!, a.rooms);
    send = async (room, body) => (await sender.request("chat.send", { room, body })).ok;
  } else {
    await inBatches(n, 50, (i) => socketioMember(a.urls[0], a.rooms[i % a.rooms.length]));
    const sender = await socketioSender(a.urls[0], a.rooms);
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
