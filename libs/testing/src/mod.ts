export { freePort, startNats, startNatsCluster } from "./nats-server.ts";
export type { NatsCluster, NatsServer, StartNatsOptions } from "./nats-server.ts";
export { startNatsProxy } from "./nats-proxy.ts";
export type { NatsProxy } from "./nats-proxy.ts";
export { uniqueName } from "./names.ts";
export { waitUntil } from "./wait.ts";
export { rssOf, watchRss } from "./rss.ts";
export type { RssWatch } from "./rss.ts";
