/**
 * The chat benchmark's floor: a WebSocket server that speaks just enough of
 * Colmena's frame protocol for the harness (every request answered ok,
 * `chat.join` puts the connection in a room, `chat.send` relays the body to
 * the room's other members as a `chat.message` event) and does nothing else:
 * no NATS, no storage, no authentication, no checks. A message's event frame
 * is built and framed once and written to each member's socket as it is
 * (what Colmena's gateway and Socket.IO's pre-encoded broadcasts also do).
 *
 * It is not a system anyone would run: it is the most a Node server can
 * deliver to these members on this machine, beside the same harness, so the
 * systems' rows read against what the machine allows and not only against
 * each other.
 */
import { createServer } from "node:http";
import type { Duplex } from "node:stream";
import * as wsModule from "ws";
import { WebSocketServer, type WebSocket } from "ws";
import { memoryNow, serveParent } from "../lib/child.ts";

/** ws's own framing (its `Sender` export, which @types/ws does not declare). */
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, o: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] } };
const textFrame = (text: string) => Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }));

interface Member { ws: WebSocket; socket: Duplex }
const rooms = new Map<string, Set<Member>>();
let seq = 0;

const http = createServer();
const wss = new WebSocketServer({ server: http, path: "/ws", perMessageDeflate: false });
wss.on("connection", (ws) => {
  const me: Member = { ws, socket: (ws as unknown as { _socket: Duplex })._socket };
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
      const frame = textFrame(`{"event":"chat.message","data":${JSON.stringify({ room: f.data.room, seq: n, from: "bench-sender", body: f.data.body, ts })}}`);
      for (const m of rooms.get(f.data.room) ?? []) if (m !== me) m.socket.write(frame);
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
