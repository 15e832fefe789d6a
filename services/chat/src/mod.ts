export { startChat, CHAT_VERSION } from "./start.ts";
export type { RunningChat, StartChatDeps } from "./start.ts";
export { chatConfig, chatSettings } from "./config.ts";
export type { ChatConfig } from "./config.ts";
export { CHAT_STREAM, PUSH_PARTITIONS, pushDurable, pushPartition, roomMessages } from "./events.ts";
export type { ChatEvent, MessageStored } from "./events.ts";
export { PRESENCE_BUCKET } from "./presence.ts";
