export { startNotify, NOTIFY_VERSION } from "./start.ts";
export type { RunningNotify, StartNotifyDeps } from "./start.ts";
export { notifyConfig, notifySettings } from "./config.ts";
export type { NotifyConfig } from "./config.ts";
export { NOTIFY_STREAM, FANOUT_DURABLE, EMAIL_DURABLE } from "./events.ts";
export type { MailJob } from "./events.ts";
export { TopicIndex, patternMatches } from "./topic-index.ts";
export { isReserved, reservedOwner } from "./model.ts";
