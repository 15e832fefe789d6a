/**
 * What other code (the end-to-end harness, the benchmarks) uses of the CLI
 * package: the runner's service list and how it starts it.
 */
export { services } from "./runner/services.ts";
export { startServices } from "./runner/start-services.ts";
export type { GatewayPorts, RunningService, ServiceDeps, ServiceEntry, StartDeps, StartedServices } from "./runner/start-services.ts";
export { endpointUrls, formatEndpoints } from "./runner/endpoints.ts";
export { startLocalNats, RunnerError } from "./runner/nats.ts";
export type { LocalNats } from "./runner/nats.ts";
