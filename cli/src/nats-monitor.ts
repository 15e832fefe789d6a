/**
 * What an operator watches on NATS, from a server's monitoring port (`/varz`,
 * `/jsz`; 8222 in compose and Kubernetes): the server's load, each stream's
 * size, and each consumer's lag (messages not yet delivered), unacked
 * deliveries and redeliveries. `colmena status` prints it; `--prometheus`
 * writes the same figures as Prometheus text (scrape NATS itself with the
 * official prometheus-nats-exporter for everything else).
 */

export interface StreamSummary {
  name: string;
  messages: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
  consumers: ConsumerSummary[];
}

export interface ConsumerSummary {
  name: string;
  /** Messages of the stream (within the filter) not yet delivered: the lag. */
  pending: number;
  /** Delivered and not yet acknowledged. */
  ackPending: number;
  redelivered: number;
}

export interface NatsSummary {
  server: string;
  version: string;
  connections: number;
  slowConsumers: number;
  memBytes: number;
  cpu: number;
  inMsgs: number;
  outMsgs: number;
  jetstream: { storageBytes: number; memoryBytes: number; streams: number; consumers: number; apiErrors: number };
  streams: StreamSummary[];
}

async function getJson(url: string): Promise<any> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

/** The summary of one server (its view of the streams whose leader it is, or all it holds on a single node). */
export async function natsSummary(monitorUrl: string): Promise<NatsSummary> {
  const base = monitorUrl.replace(/\/$/, "");
  const [varz, jsz] = await Promise.all([getJson(`${base}/varz`), getJson(`${base}/jsz?accounts=true&streams=true&consumers=true`)]);
  const streams: StreamSummary[] = [];
  for (const account of jsz.account_details ?? []) {
    for (const s of account.stream_detail ?? []) {
      streams.push({
        name: s.name,
        messages: s.state?.messages ?? 0,
        bytes: s.state?.bytes ?? 0,
        firstSeq: s.state?.first_seq ?? 0,
        lastSeq: s.state?.last_seq ?? 0,
        consumers: (s.consumer_detail ?? []).map((c: any) => ({
          name: c.name,
          pending: c.num_pending ?? 0,
          ackPending: c.num_ack_pending ?? 0,
          redelivered: c.num_redelivered ?? 0,
        })),
      });
    }
  }
  streams.sort((a, b) => a.name.localeCompare(b.name));
  return {
    server: varz.server_name ?? varz.server_id,
    version: varz.version,
    connections: varz.connections ?? 0,
    slowConsumers: varz.slow_consumers ?? 0,
    memBytes: varz.mem ?? 0,
    cpu: varz.cpu ?? 0,
    inMsgs: varz.in_msgs ?? 0,
    outMsgs: varz.out_msgs ?? 0,
    jetstream: {
      storageBytes: jsz.storage ?? 0,
      memoryBytes: jsz.memory ?? 0,
      streams: jsz.streams ?? 0,
      consumers: jsz.consumers ?? 0,
      apiErrors: jsz.api?.errors ?? 0,
    },
    streams,
  };
}

/** A label value as Prometheus text escapes it. */
const label = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** The summary as Prometheus text exposition (one gauge family per figure). */
export function prometheusText(s: NatsSummary): string {
  const out: string[] = [];
  const family = (name: string, help: string, rows: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of rows) {
      const l = Object.entries({ server: s.server, ...labels }).map(([k, x]) => `${k}="${label(x)}"`).join(",");
      out.push(`${name}{${l}} ${v}`);
    }
  };
  family("colmena_nats_connections", "client connections of the server", [[{}, s.connections]]);
  family("colmena_nats_slow_consumers", "clients the server dropped for not reading", [[{}, s.slowConsumers]]);
  family("colmena_nats_mem_bytes", "resident memory of the server", [[{}, s.memBytes]]);
  family("colmena_nats_jetstream_storage_bytes", "file storage JetStream uses", [[{}, s.jetstream.storageBytes]]);
  family("colmena_nats_jetstream_api_errors", "JetStream API requests that failed", [[{}, s.jetstream.apiErrors]]);
  family("colmena_nats_stream_messages", "messages in the stream", s.streams.map((st) => [{ stream: st.name }, st.messages]));
  family("colmena_nats_stream_bytes", "bytes in the stream", s.streams.map((st) => [{ stream: st.name }, st.bytes]));
  const consumers = s.streams.flatMap((st) => st.consumers.map((c) => ({ st: st.name, c })));
  family("colmena_nats_consumer_pending", "messages not yet delivered to the consumer (its lag)", consumers.map(({ st, c }) => [{ stream: st, consumer: c.name }, c.pending]));
  family("colmena_nats_consumer_ack_pending", "deliveries not yet acknowledged", consumers.map(({ st, c }) => [{ stream: st, consumer: c.name }, c.ackPending]));
  family("colmena_nats_consumer_redelivered", "messages delivered more than once", consumers.map(({ st, c }) => [{ stream: st, consumer: c.name }, c.redelivered]));
  return out.join("\n") + "\n";
}

/** The summary as the lines `colmena status` prints. */
export function summaryLines(s: NatsSummary): [string, string][] {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const lines: [string, string][] = [
    ["nats", `${s.server} v${s.version}: ${s.connections} connections, ${s.slowConsumers} slow consumers, ${mib(s.memBytes)} memory, cpu ${s.cpu}%`],
    ["jetstream", `${s.jetstream.streams} streams, ${s.jetstream.consumers} consumers, ${mib(s.jetstream.storageBytes)} on disk, ${s.jetstream.apiErrors} API errors`],
  ];
  for (const st of s.streams) {
    lines.push([`stream`, `${st.name}: ${st.messages} messages, ${mib(st.bytes)}, seq ${st.firstSeq}-${st.lastSeq}`]);
    for (const c of st.consumers) lines.push(["consumer", `${st.name}/${c.name}: lag ${c.pending}, unacked ${c.ackPending}, redelivered ${c.redelivered}`]);
  }
  return lines;
}
