/**
 * The chat push path alone (issue 11): messages stored straight into the
 * CHAT stream over a number of rooms while one chat replica runs, and the
 * rate at which the replica's push durables turn them into pushes on
 * `colmena.push.room.<room>` (from the first store to the last push seen),
 * with each room's order and repeats checked. No gateway, no members: this
 * measures the message rate of the push durables, which bounds every room
 * layout of benchmark 3 (bench/chat.ts).
 *
 *   npx tsx bench/chat-push.ts [messages=2000] [rooms=1,10] [sync=lazy]
 *
 * The store side keeps 64 publishes in flight. Everything runs in one
 * process (the replica, the publisher, the push subscriber) on one NATS
 * server: compare runs of one invocation, not absolute figures.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connectNats, silentLogger } from "@colmena/runtime";
import { startNats } from "@colmena/testing";
import { roomMessages, startChat } from "@colmena/chat";

const [messages = 2000, roomsList = "1,10", sync = "lazy"] = process.argv.slice(2).map((a, i) => (i === 0 ? Number(a) : a)) as [number?, string?, string?];
const log = silentLogger();

async function once(rooms: number): Promise<{ rooms: number; perSecond: number; cpuUsPerMsg: number; outOfOrder: number; repeats: number }> {
  await using nats = await startNats({ jetstream: true, sync });
  const dataDir = mkdtempSync(join(tmpdir(), "colmena-bench-chat-push-"));
  const nc = await connectNats({ servers: nats.url, name: "bench-chat", log });
  const probe = await connectNats({ servers: nats.url, name: "bench-probe", log });
  const chat = await startChat({ nc, log, env: { ...process.env, COLMENA_DATA_DIR: dataDir, COLMENA_INSTANCE: "bench-push" } });
  try {
    const names = Array.from({ length: rooms }, (_, i) => `bench-push-${i}`);
    const last = new Map<string, number>();
    let pushed = 0, outOfOrder = 0, repeats = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    probe.subscribe("colmena.push.room.*", {
      callback: (_err, m) => {
        const { room, seq } = m.json<{ room: string; seq: number }>();
        const prev = last.get(room) ?? 0;
        if (seq === prev) repeats++;
        else if (seq < prev) outOfOrder++;
        else last.set(room, seq);
        if (++pushed === messages) done();
      },
    });
    await probe.flush();
    const js = jetstream(probe);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    const publisher = async () => {
      while (next < messages) {
        const i = next++;
        const room = names[i % rooms];
        await js.publish(roomMessages(room), JSON.stringify({ kind: "message", room, msg_id: `m${i}`, from: "bench", user_id: "u-bench", body: `b${i}`, ts: Date.now() }));
      }
    };
    await Promise.all(Array.from({ length: 64 }, publisher));
    await Promise.race([all, new Promise((r) => setTimeout(r, 120_000))]);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { rooms, perSecond: pushed / seconds, cpuUsPerMsg: (cpu.user + cpu.system) / Math.max(1, pushed), outOfOrder, repeats };
  } finally {
    await chat.stop();
    await nc.close();
    await probe.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

for (const rooms of String(roomsList).split(",").map(Number)) {
  const r = await once(rooms);
  console.log(`${messages} messages over ${r.rooms} room(s), fsync ${sync}: ${Math.round(r.perSecond)} pushes/s, ${Math.round(r.cpuUsPerMsg)} µs process CPU per message, ${r.outOfOrder} out of order, ${r.repeats} repeats`);
}
