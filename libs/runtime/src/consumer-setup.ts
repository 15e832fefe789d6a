/**
 * The durable pull consumers behind `runConsumer`, created or brought up to
 * date at start and created again whenever one goes missing.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, type ConsumerConfig, type JetStreamManager } from "@nats-io/jetstream";

export interface DurableSpec {
  stream: string;
  durable: string;
  filterSubjects?: string[];
  ackWaitMs: number;
  /** What the server enforces: our maxDeliver plus the one delivery reserved for the dead-letter hook (-1: unbounded). */
  serverMaxDeliver: number;
  maxAckPending: number;
  /** Pull requests the server holds at once; fixed at creation. */
  maxWaiting?: number;
}

const ms = (n: number) => n * 1_000_000;

/**
 * nats-server's answer to creating a durable that exists with other settings:
 * 10148 "consumer already exists" (what 2.15.1 answers), or 10013 "consumer
 * name already in use" (JSConsumerNameExistErr, what older servers answer).
 */
const isConsumerNameInUse = (err: unknown) => err instanceof JetStreamApiError && (err.code === 10148 || err.code === 10013);

function filterOf(spec: DurableSpec): Partial<ConsumerConfig> {
  const f = spec.filterSubjects ?? [];
  if (f.length === 0) return {};
  return f.length === 1 ? { filter_subject: f[0] } : { filter_subjects: f };
}

/** Creates the durable, or updates the settings we own when it already exists with others. */
export async function ensureDurable(jsm: JetStreamManager, spec: DurableSpec): Promise<void> {
  const changeable: Partial<ConsumerConfig> = {
    ack_wait: ms(spec.ackWaitMs),
    max_deliver: spec.serverMaxDeliver,
    max_ack_pending: spec.maxAckPending,
    ...filterOf(spec),
  };
  try {
    await jsm.consumers.add(spec.stream, {
      durable_name: spec.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...(spec.maxWaiting !== undefined ? { max_waiting: spec.maxWaiting } : {}),
      ...changeable,
    });
  } catch (err) {
    // Creating over an existing durable with other settings is refused; update those we own.
    if (!isConsumerNameInUse(err)) throw err;
    await jsm.consumers.update(spec.stream, spec.durable, changeable);
  }
}
