/**
 * Writes nats-server configs for the local runner and the tests. Durability is
 * safe by default (design.md section 8): `sync_interval: always` unless the
 * caller passes `lazy` (the server default, a 2 min flush; from the
 * `COLMENA_NATS_SYNC` setting) or a duration.
 */
/** The default of the gateway's `COLMENA_MAX_FRAME_BYTES` (protocol.md section 1): 1 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 1 << 20;

/**
 * `max_payload` of every nats-server Colmena configures (the runner, tests,
 * deploy/nats and deploy/k8s, which write `8MB`: the same 8 MiB). A frame under
 * the frame limit travels as one NATS message plus its headers, and a
 * MessagePack frame re-encoded as JSON can grow several times (200 KiB of
 * binary became 1.2 MB), so 8x the default frame limit; nats-server's own
 * default, 1 MB, refused a 1 MiB frame. Clients learn the limit from INFO.
 */
export const NATS_MAX_PAYLOAD = 8 * DEFAULT_MAX_FRAME_BYTES;

export interface NatsConfigOptions {
  serverName: string;
  host?: string;
  /** -1 for a random port. */
  port: number;
  /** HTTP monitoring port; -1 for random, undefined for none. */
  monitorPort?: number;
  storeDir?: string;
  /** `always` (default), `lazy` or null (the server's default), or a duration like `10s`. */
  sync?: string | null;
  cluster?: { name: string; port: number; routes: string[] };
  /** Default NATS_MAX_PAYLOAD. */
  maxPayload?: number;
  /** JetStream's per-stream ingest queue bound (`max_buffered_msgs`, 2.11+; default 10,000): tests set it low to meet its 429s. */
  maxBufferedMsgs?: number;
}

const q = (s: string) => JSON.stringify(s);

export function natsConfig(o: NatsConfigOptions): string {
  const host = o.host ?? "127.0.0.1";
  const lines = [`server_name: ${q(o.serverName)}`, `listen: ${q(`${host}:${o.port}`)}`];
  if (o.monitorPort !== undefined) lines.push(`http: ${q(`${host}:${o.monitorPort}`)}`);
  lines.push(`max_payload: ${o.maxPayload ?? NATS_MAX_PAYLOAD}`);
  if (o.storeDir) {
    const sync = o.sync === undefined ? "always" : o.sync === "lazy" ? null : o.sync;
    const buffered = o.maxBufferedMsgs ? `, max_buffered_msgs: ${o.maxBufferedMsgs}` : "";
    lines.push(`jetstream { store_dir: ${q(o.storeDir)}${sync ? `, sync_interval: ${sync === "always" ? "always" : q(sync)}` : ""}${buffered} }`);
  }
  if (o.cluster) {
    lines.push(
      `cluster { name: ${q(o.cluster.name)}, listen: ${q(`${host}:${o.cluster.port}`)}, routes: [${o.cluster.routes.map(q).join(", ")}] }`,
    );
  }
  return lines.join("\n") + "\n";
}
