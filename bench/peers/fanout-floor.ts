/**
 * The chat benchmark's floor: a WebSocket server that speaks just enough of
 * Colmena's frame protocol for the harness (every request answered ok,
 * `chat.join` puts the connection in a room, `chat.send` relays the body to
 * the room's other members as a `chat.message` event) and does nothing else:
 * no NATS, no storage, no authentication, no checks. A message's event frame
 * is built and framed once (the gateway's own `wsTextFrame`) and written to
 * each member's socket as it is (what Colmena's gateway and Socket.IO's
 * pre-encoded broadcasts also do).
 *
 * It is not a system anyone would run: it is the most a Node server can
 * deliver to these members on this machine, beside the same harness, so the
 * systems' rows read against what the machine allows and not only against
 * each other.
 */
import { createServer } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { wsTextFrame } from "@colmena/gateway";
import { memoryNow, serveParent } from "../lib/child.ts";

/** Each room's members, as their sockets (a relayed frame is written to them as it is). */
const rooms = new Map<string, Set<Duplex>>();
let seq = 0;

const http = createServer();
const wss = new WebSocketServer({ server: http, path: "/ws", perMessageDeflate: false });
wss.on("connection", (ws) => {
  const me = (ws as unknown as { _socket: Duplex })._socket;
  const joined = new Set<string>();
  ws.on("message", (raw) => {
    const f = JSON.parse(String(raw)) as { id: number; op: string; data?: { room?: string; body?: string } };
    let data = "{}";
    if (f.op === "chat.join" && f.data?.room) {
      const room = f.data.room;
      if (!rooms.has(room)) rooms.set(room, new Set());
      rooms.get(room)!.add(me);
      joined.add(room);
    } else if (f.op === "chat.send" && f.data?.room) {
      const n = ++seq;
      const ts = Date.now();
      const frame = wsTextFrame(Buffer.from(`{"event":"chat.message","data":${JSON.stringify({ room: f.data.room, seq: n, from: "bench-sender", body: f.data.body, ts })}}`));
      for (const m of rooms.get(f.data.room) ?? []) if (m !== me) m.write(frame);
      data = JSON.stringify({ room: f.data.room, seq: n, ts });
    }
    ws.send(`{"id":${f.id},"ok":true,"data":${data}}`);
  });
  ws.on("close", () => {
    for (const r of joined) rooms.get(r)?.delete(me);
  });
});
await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
const port = (http.address() as { port: number }).port;
serveParent({ url: `ws://127.0.0.1:${port}/ws`, pid: process.pid }, {
  memory: () => memoryNow(),
  stop: () => new Promise<void>((r) => { wss.close(); http.close(() => r()); }),
});
