/**
 * Fan-out with no gaps: every stored message is pushed once to its room's
 * channel (`colmena.push.room.<room>`), where each gateway hands it to its
 * own joined connections except the sender's. The push is made from the
 * stream, not from the request handler, through a durable the replicas
 * share: whoever takes a message publishes it, flushes, and only then acks,
 * so a replica that dies after the store (or mid-push) leaves the message
 * to another after ack_wait. `max_ack_pending: 1` keeps the pushes in
 * stream order across replicas. A redelivery may push a message twice; its
 * `seq` lets the SDK drop the repeat.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { channel } from "@colmena/protocol";
import { publishEvent, runConsumer, type Logger, type RunningConsumer } from "@colmena/runtime";
import { ALL_MESSAGES, CHAT_STREAM, PUSH_DURABLE, type MessageStored } from "./events.ts";
import { toMessage } from "./model.ts";

export function startFanout(nc: NatsConnection, log: Logger, ackWaitMs: number): Promise<RunningConsumer> {
  return runConsumer({
    nc,
    log,
    stream: CHAT_STREAM,
    consumers: [{ durable: PUSH_DURABLE, filterSubjects: [ALL_MESSAGES] }],
    concurrency: 1,
    maxAckPending: 1,
    ackWaitMs,
    maxDeliver: Infinity,
    handle: async (m) => {
      const ev = m.json<MessageStored>();
      publishEvent(nc, channel("room", ev.room), "chat.message", toMessage(m.seq, ev), { excludeConn: ev.conn });
      // Acked only once the push has left for the server.
      await nc.flush();
    },
  });
}
