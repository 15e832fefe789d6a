/**
 * Operator views built on NATS service discovery (`$SRV.PING/INFO/STATS`):
 * the list of services with their stats, and the readiness check behind
 * `/readyz` (which services to wait for is the registry's `coreServices()`).
 */
import { Empty, type NatsConnection } from "@nats-io/transport-node";
import { Svcm, type ServiceInfo, type ServiceStats } from "@nats-io/services";

/** Whether at least one instance of each service answers `$SRV.PING.<name>` in time. */
export async function pingServices(nc: NatsConnection, names: string[], timeoutMs = 1000): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  await Promise.all(
    names.map(async (name) => {
      try {
        await nc.request(`$SRV.PING.${name}`, Empty, { timeout: timeoutMs });
        out[name] = true;
      } catch {
        out[name] = false;
      }
    }),
  );
  return out;
}

export interface EndpointView {
  name: string;
  subject: string;
  num_requests: number;
  num_errors: number;
  average_processing_time_ms: number;
}
export interface ServiceView {
  name: string;
  id: string;
  version: string;
  endpoints: EndpointView[];
}

async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const x of iter) out.push(x);
  } catch {
    /* a bad reply or no responders: keep what came */
  }
  return out;
}

/** Every running service instance with per-endpoint stats (the reply of `sys.services`). */
export async function listServices(nc: NatsConnection, waitMs = 1000): Promise<{ services: ServiceView[] }> {
  const client = new Svcm(nc as never).client({ strategy: "stall", maxWait: waitMs, stall: 200 });
  const [infos, stats] = await Promise.all([
    client.info().then(collect<ServiceInfo>, () => [] as ServiceInfo[]),
    client.stats().then(collect<ServiceStats>, () => [] as ServiceStats[]),
  ]);
  const statsById = new Map(stats.map((s) => [s.id, s]));
  const byId = new Map<string, ServiceView>();
  for (const info of infos) {
    const st = statsById.get(info.id);
    const epStats = new Map((st?.endpoints ?? []).map((e) => [e.name, e]));
    byId.set(info.id, {
      name: info.name,
      id: info.id,
      version: info.version,
      endpoints: info.endpoints.map((ep) => {
        const s = epStats.get(ep.name);
        return {
          // Endpoint names cannot hold '.', so hosts put the op in the metadata: show the op.
          name: ep.metadata?.op || ep.name,
          subject: ep.subject,
          num_requests: s?.num_requests ?? 0,
          num_errors: s?.num_errors ?? 0,
          // $SRV.STATS reports nanoseconds.
          average_processing_time_ms: s ? s.average_processing_time / 1e6 : 0,
        };
      }),
    });
  }
  // An instance whose INFO reply was lost but whose STATS came still counts.
  for (const st of stats) {
    if (byId.has(st.id)) continue;
    byId.set(st.id, {
      name: st.name,
      id: st.id,
      version: st.version,
      endpoints: (st.endpoints ?? []).map((e) => ({
        name: e.name,
        subject: e.subject,
        num_requests: e.num_requests,
        num_errors: e.num_errors,
        average_processing_time_ms: e.average_processing_time / 1e6,
      })),
    });
  }
  const services = [...byId.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  return { services };
}
