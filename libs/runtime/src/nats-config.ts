/**
 * Writes nats-server configs for the local runner and the tests. Durability is
 * safe by default (design.md section 8): `sync_interval: always` unless
 * `COLMENA_NATS_SYNC` says `lazy` (the server default, a 2 min flush) or a duration.
 */
export interface NatsConfigOptions {
  serverName: string;
  host?: string;
  /** -1 for a random port. */
  port: number;
  /** HTTP monitoring port; -1 for random, undefined for none. */
  monitorPort?: number;
  storeDir?: string;
  /** `always` (default), `lazy`, or a duration like `10s`. */
  sync?: string;
  cluster?: { name: string; port: number; routes: string[] };
  maxPayload?: number;
  /** JetStream's per-stream ingest queue bound (`max_buffered_msgs`, 2.11+; default 10,000): tests set it low to meet its 429s. */
  maxBufferedMsgs?: number;
}

export function syncSetting(env: string | undefined = process.env.COLMENA_NATS_SYNC): string | null {
  const v = (env ?? "always").trim();
  if (v === "" || v === "always") return "always";
  if (v === "lazy" || v === "default") return null;
  if (/^\d+(ms|s|m|h)$/.test(v)) return v;
  throw new Error(`COLMENA_NATS_SYNC must be "always", "lazy" or a duration like "10s", not "${v}"`);
}

const q = (s: string) => JSON.stringify(s);

export function natsConfig(o: NatsConfigOptions): string {
  const host = o.host ?? "127.0.0.1";
  const lines = [`server_name: ${q(o.serverName)}`, `listen: ${q(`${host}:${o.port}`)}`];
  if (o.monitorPort !== undefined) lines.push(`http: ${q(`${host}:${o.monitorPort}`)}`);
  if (o.maxPayload) lines.push(`max_payload: ${o.maxPayload}`);
  if (o.storeDir) {
    const sync = o.sync === undefined ? syncSetting() : o.sync === "lazy" ? null : o.sync;
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
