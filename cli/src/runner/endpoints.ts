/** The short block of endpoints the runner prints once everything is up. */
import type { GatewayPorts } from "./start-services.ts";

export interface EndpointInfo {
  /** The bind address the gateway used (`COLMENA_HOST`). */
  host?: string;
  ports: GatewayPorts;
  natsUrl: string;
  natsMonitorUrl?: string;
  home: string;
  services: string[];
}

/** A host to print: a wildcard bind is reachable as localhost. */
function shownHost(host: string | undefined): string {
  if (!host || host === "::" || host === "0.0.0.0") return "localhost";
  return host.includes(":") ? `[${host}]` : host;
}

export function endpointUrls(info: Pick<EndpointInfo, "host" | "ports">): { tcp: string; tls?: string; ws: string; http: string } {
  const h = shownHost(info.host);
  return {
    tcp: `tcp://${h}:${info.ports.tcp}`,
    tls: info.ports.tls ? `tls://${h}:${info.ports.tls}` : undefined,
    ws: `ws://${h}:${info.ports.http}/ws`,
    http: `http://${h}:${info.ports.http}`,
  };
}

export function formatEndpoints(info: EndpointInfo): string {
  const u = endpointUrls(info);
  const row = (k: string, v: string) => `  ${k.padEnd(11)}${v}`;
  return [
    `Colmena is up (${info.services.join(", ")}).`,
    row("Web page", `${u.http}/`),
    row("TCP", u.tcp),
    ...(u.tls ? [row("TLS", u.tls)] : []),
    row("WebSocket", u.ws),
    row("HTTP", `${u.http}/healthz  ${u.http}/readyz  ${u.http}/metrics`),
    row("NATS", info.natsMonitorUrl ? `${info.natsUrl}  (monitoring ${info.natsMonitorUrl})` : info.natsUrl),
    row("state", info.home),
    `Try \`npm run colmena -- ping --url ${u.tcp}\`; Ctrl-C stops everything.`,
  ].join("\n");
}
