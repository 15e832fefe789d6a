/**
 * Fan-out with no gaps: every stored message is pushed once to its room's
 * channel (`colmena.push.room.<room>`), where each gateway hands it to its
 * own joined connections except the sender's. The push is made from the
 * stream, not from the request handler, through durables the replicas
 * share: whoever takes a message publishes the push and then acks it, so a
 * replica that dies after the store (or mid-push) leaves the message to
 * another after ack_wait. A redelivery may push a message twice; its `seq`
 * lets the SDK drop the repeat.
 *
 * Order: a room's messages are all in one push partition (events.ts), whose
 * durable has `max_ack_pending: 1`, so the server hands out its next
 * message only once the last one is acked, whichever replica took it. The
 * push and the ack leave on the same connection, push first, and a server
 * reads a connection in order: once it has the ack it has routed the push,
 * so no flush (a round trip per message) is needed before the ack. The
 * PUSH_PARTITIONS durables run side by side, so the message rate of a
 * deployment grows with its rooms instead of being one message at a time.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { channel } from "@colmena/protocol";
import { publishEvent, runConsumer, type Logger, type RunningConsumer } from "@colmena/runtime";
import { CHAT_STREAM, PUSH_PARTITIONS, partitionMessages, pushDurable, type MessageStored } from "./events.ts";
import { toMessage } from "./model.ts";

export async function startFanout(nc: NatsConnection, log: Logger, ackWaitMs: number): Promise<RunningConsumer> {
  // One work consumer per partition, each with one slot (as its durable has one message out at a time): a recipe
  // with a lane per durable would scan them in turn and hold a lane's delivery while it asks the others.
  const running: RunningConsumer[] = [];
  const stop = () => Promise.all(running.map((c) => c.stop())).then(() => undefined);
  try {
    for (let p = 0; p < PUSH_PARTITIONS; p++) running.push(await startPartition(nc, log, ackWaitMs, p));
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

function startPartition(nc: NatsConnection, log: Logger, ackWaitMs: number, p: number): Promise<RunningConsumer> {
  return runConsumer({
    nc,
    log,
    stream: CHAT_STREAM,
    consumers: [{ durable: pushDurable(p), filterSubjects: [partitionMessages(p)] }],
    concurrency: 1,
    maxAckPending: 1,
    ackWaitMs,
    maxDeliver: Infinity,
    handle: async (m) => {
      const ev = m.json<MessageStored>();
      publishEvent(nc, channel("room", ev.room), "chat.message", toMessage(m.seq, ev), { excludeConn: ev.conn });
    },
  });
}
