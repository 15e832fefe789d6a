/**
 * Frames written to one socket within one tick leave in one system call: the
 * first write of a tick corks the socket and one callback at the end of the
 * tick uncorks every socket corked in it. A push fanned out to a thousand
 * connections costs a thousand writes whatever is done, but under load, when
 * NATS hands the gateway several pushes in one read, each connection gets
 * them in one segment rather than one each: the busier the gateway, the
 * larger its batches, instead of a queue that grows.
 */
import type { Writable } from "node:stream";

const held = new Set<Writable>();

function release(): void {
  for (const s of held) s.uncork();
  held.clear();
}

/** Corks `socket` until the end of this tick (once, however often called). */
export function corkForTick(socket: Writable): void {
  if (held.has(socket)) return;
  held.add(socket);
  socket.cork();
  if (held.size === 1) process.nextTick(release);
}
