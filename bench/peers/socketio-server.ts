/**
 * The Socket.IO 4 peer of the chat benchmark: one server process, rooms as
 * Socket.IO rooms, a message broadcast to the room but its sender
 * (`socket.to(room).emit`), acknowledged to the sender. WebSocket transport
 * only, no per-message compression, as the Colmena gateway's WebSocket.
 */
import { createServer } from "node:http";
import { Server } from "socket.io";
import { memoryNow, serveParent } from "../lib/child.ts";

const http = createServer();
const io = new Server(http, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });
io.on("connection", (socket) => {
  socket.on("join", (room: string, ack?: () => void) => { void socket.join(room); ack?.(); });
  socket.on("send", (m: { room: string; body: string }, ack?: (r: { ok: boolean }) => void) => {
    socket.to(m.room).emit("message", { room: m.room, from: socket.id, body: m.body, ts: Date.now() });
    ack?.({ ok: true });
  });
});
await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
const port = (http.address() as { port: number }).port;
serveParent({ url: `http://127.0.0.1:${port}`, pid: process.pid }, {
  memory: () => memoryNow(),
  stop: () => new Promise<void>((r) => { io.close(() => r()); }),
});
