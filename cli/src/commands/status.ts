/**
 * `colmena status`: is the gateway up and ready, every service instance
 * ($SRV info and stats, for admins), and NATS as its monitoring port sees
 * it (`/varz`, `/jsz`: streams' sizes, consumers' lag and redeliveries);
 * `--prometheus` prints the NATS figures as Prometheus text.
 */
import { ColmenaError } from "@colmena/client";
import { flag, type Args } from "../args.ts";
import { withClient } from "../connect.ts";
import { printJson, type Command } from "./command.ts";
import { natsSummary, prometheusText, summaryLines } from "../nats-monitor.ts";

/** The NATS monitoring URL: `--nats-monitor`, or `NATS_MONITOR_URL` (default the local 8222). */
function monitorBase(args: Args): string {
  return (flag(args, "nats-monitor") ?? args.config.natsMonitorUrl).replace(/\/$/, "");
}

/** The gateway's HTTP base URL: `--http`, `COLMENA_HTTP_URL`, or the `--url` host on port 7480. */
export function httpBase(args: Args): string {
  const given = flag(args, "http") ?? args.config.httpUrl;
  if (given) return given.replace(/\/$/, "");
  const u = new URL(args.url);
  if (u.protocol.startsWith("ws")) return `${u.protocol === "wss:" ? "https" : "http"}://${u.host}`;
  return `http://${u.hostname}:7480`;
}

async function probe(url: string): Promise<string> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    const body = (await r.text()).trim().slice(0, 200);
    return `${r.status}${body ? ` ${body}` : ""}`;
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  }
}

interface ServiceInfo {
  name: string;
  id: string;
  version: string;
  endpoints: { name: string; num_requests: number; num_errors: number; average_processing_time_ms: number }[];
}

export const commands: Command[] = [
  {
    name: "status",
    usage: "[--http URL] [--nats-monitor URL] [--json] [--prometheus]",
    summary: "gateway health and readiness, the running services when logged in as an admin, NATS streams and consumers",
    options: { http: { type: "string" }, json: { type: "boolean" }, "nats-monitor": { type: "string" }, prometheus: { type: "boolean" } },
    async run(args) {
      if (args.flags.prometheus) {
        process.stdout.write(prometheusText(await natsSummary(monitorBase(args))));
        return 0;
      }
      const http = httpBase(args);
      const [healthz, readyz] = await Promise.all([probe(`${http}/healthz`), probe(`${http}/readyz`)]);
      const line = (k: string, v: string) => process.stdout.write(`${k.padEnd(10)}${v}\n`);
      line("healthz", healthz);
      line("readyz", readyz);
      try {
        for (const [k, v] of summaryLines(await natsSummary(monitorBase(args)))) line(k, v);
      } catch (err) {
        line("nats", `${monitorBase(args)}: ${(err as Error).message} (--nats-monitor URL)`);
      }
      const code = healthz.startsWith("200") ? 0 : 1;
      let connected = false;
      try {
        return await withClient(args, "optional", async (client) => {
          connected = true;
          const hello = await client.request<{ version: string; protocol: number }>("hello", { client: "colmena-cli" });
          line("gateway", `${args.url} (colmena ${hello.version}, protocol ${hello.protocol})`);
          if (!client.session) {
            line("services", "log in as an admin (COLMENA_ADMINS) to list them");
            return code;
          }
          try {
            const { services } = await client.request<{ services: ServiceInfo[] }>("sys.services");
            if (args.flags.json) printJson(services);
            else
              for (const s of services) {
                const reqs = s.endpoints.reduce((n, e) => n + e.num_requests, 0);
                const errs = s.endpoints.reduce((n, e) => n + e.num_errors, 0);
                line(s.name, `${s.id} v${s.version}: ${s.endpoints.length} endpoints, ${reqs} requests, ${errs} errors`);
              }
          } catch (err) {
            if (!ColmenaError.is(err, "forbidden")) throw err;
            line("services", `${client.session.username} is not an admin (COLMENA_ADMINS)`);
          }
          return code;
        });
      } catch (err) {
        // A gateway that cannot be reached is part of the report; a failure after connecting is an error.
        if (connected) throw err;
        line("gateway", `${args.url}: ${(err as Error).message}`);
        return 1;
      }
    },
  },
];
