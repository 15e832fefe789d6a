/**
 * The original line chat of protocol.md section 9, hosted by the chat
 * service: two raw TCP line clients and a WebSocket client in the lobby see
 * each other; /nick names a line client; an abrupt disconnect is cleaned up.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { startChat, type RunningChat } from "@colmena/chat";
import { connectNats, silentLogger } from "@colmena/runtime";
import { uniqueName, waitUntil } from "@colmena/testing";
import { startSystem, type System } from "./harness.ts";

let sys: System;
let chat: RunningChat;
let nc: NatsConnection;

before(async () => {
  sys = await startSystem({ services: ["auth", "chat"] });
  // A replica with the line listener on a free port (the runner's is 65432).
  nc = await connectNats({ servers: sys.nats.url, name: "line-chat", log: silentLogger() });
  chat = await startChat({ nc, log: silentLogger(), env: { ...sys.env, COLMENA_INSTANCE: uniqueName("line-"), COLMENA_LINE_CHAT_PORT: "0" } });
});
after(async () => {
  await chat?.stop();
  await nc?.close();
  await sys?.stop();
});

interface LineClient { socket: Socket; lines: string[] }
async function lineClient(): Promise<LineClient> {
  const socket = connect(chat.linePort!, "127.0.0.1");
  await new Promise<void>((res, rej) => socket.once("connect", res).once("error", rej));
  const c: LineClient = { socket, lines: [] };
  let buf = "";
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => {
    buf += d;
    const parts = buf.split("\n");
    buf = parts.pop()!;
    c.lines.push(...parts);
  });
  return c;
}

test("line chat - two line clients and a WebSocket client see each other; abrupt disconnects are cleaned up", async () => {
  assert.ok(chat.linePort! > 0);
  const ws = await sys.user({ prefix: "web", transport: "ws" });
  const toWs: { from: string; body?: string }[] = [];
  ws.client.on("chat.message", (d) => toWs.push(d as never));
  await ws.client.request("chat.join", { room: "lobby" });
  const a = await lineClient();
  const b = await lineClient();
  a.socket.write("/nick ana-line\r\n");
  a.socket.write("hola desde a\n");
  await waitUntil("b and ws get a's line", () => b.lines.includes("ana-line: hola desde a") && toWs.some((m) => m.from === "ana-line" && m.body === "hola desde a"));
  b.socket.write("\n"); // blank lines are ignored
  b.socket.write("y yo\n");
  await waitUntil("a gets b's line as a guest", () => a.lines.some((l) => /^guest-\d+: y yo$/.test(l)));
  await ws.client.request("chat.send", { room: "lobby", body: "desde la web" });
  await waitUntil("both lines get the ws message", () => [a, b].every((c) => c.lines.includes(`${ws.username}: desde la web`)));
  assert.ok(!a.lines.some((l) => l.startsWith("ana-line:")), "no echo to the line sender");
  // An abrupt disconnect: the others go on, the listener does not fall over.
  b.socket.destroy();
  await new Promise((r) => setTimeout(r, 100));
  await ws.client.request("chat.send", { room: "lobby", body: "sigue" });
  await waitUntil("a still gets messages", () => a.lines.includes(`${ws.username}: sigue`));
  const c = await lineClient();
  c.socket.write("nuevo\n");
  await waitUntil("a new line client is heard", () => a.lines.some((l) => /^guest-\d+: nuevo$/.test(l)));
  a.socket.destroy();
  c.socket.destroy();
});
