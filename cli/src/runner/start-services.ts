/**
 * Starting the runner's service list in one process, each service on a NATS
 * connection of its own (as its own NATS user, so it has only its own
 * permissions, as in a deployment), and stopping them in reverse.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@colmena/runtime";

/** What every service's start function receives. */
export interface ServiceDeps {
  nc: NatsConnection;
  log: Logger;
  env: NodeJS.ProcessEnv;
}

/** The listening ports of a gateway (0 in the environment gives a free port; these are the real ones). */
export interface GatewayPorts {
  tcp: number;
  tls?: number;
  http: number;
}

/** A started service: it can be stopped; a gateway also tells its ports. */
export interface RunningService {
  stop(): Promise<void>;
  id?: string;
  ports?: GatewayPorts;
}

export interface ServiceEntry {
  name: string;
  start(deps: ServiceDeps): Promise<RunningService>;
}

/** What starting the list needs: a NATS connection per service (by its name, which is its NATS user). */
export interface StartDeps {
  connect(service: string): Promise<NatsConnection>;
  log: Logger;
  env: NodeJS.ProcessEnv;
}

export interface StartedServices {
  running: { name: string; service: RunningService }[];
  /** The gateway's ports, when a gateway was started. */
  gatewayPorts?: GatewayPorts;
  /** Stops every service in reverse order of start. */
  stop(): Promise<void>;
}

/**
 * Starts `entries` one after another; if one fails, the ones already started
 * are stopped and the error names the service.
 * `onStarted` lets a caller register each one for shutdown as it comes up.
 */
export async function startServices(
  entries: ServiceEntry[],
  deps: StartDeps,
  onStarted?: (name: string, service: RunningService) => void,
): Promise<StartedServices> {
  const running: StartedServices["running"] = [];
  const stop = async () => {
    for (const { name, service } of [...running].reverse()) {
      try {
        await service.stop();
      } catch (err) {
        deps.log.warn({ err, part: name }, "error while stopping");
      }
    }
    running.length = 0;
  };
  for (const entry of entries) {
    let service: RunningService;
    let nc: NatsConnection | undefined;
    try {
      nc = await deps.connect(entry.name);
      service = withConnection(await entry.start({ nc, log: deps.log.child({ service: entry.name }), env: deps.env }), nc);
    } catch (err) {
      await nc?.close().catch(() => undefined);
      if (!onStarted) await stop();
      throw new Error(`could not start ${entry.name}: ${(err as Error).message}`, { cause: err });
    }
    running.push({ name: entry.name, service });
    onStarted?.(entry.name, service);
  }
  const gatewayPorts = running.find((r) => r.service.ports)?.service.ports;
  return { running, gatewayPorts, stop };
}

/** The service, whose stop also drains its own connection. */
function withConnection(service: RunningService, nc: NatsConnection): RunningService {
  return {
    id: service.id,
    ports: service.ports,
    stop: async () => {
      try {
        await service.stop();
      } finally {
        await nc.drain().catch(() => undefined);
      }
    },
  };
}
