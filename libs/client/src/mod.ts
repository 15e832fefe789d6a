export { ColmenaClient } from "./client-node.ts";
export type { ClientOptions, ClientStatus, RequestOptions } from "./client.ts";
export type { Codec } from "./codec.ts";
export type { EventHandler, EventSelector, TypedEventFrame } from "./events.ts";
export { isExpired, tokenExpiry } from "./session.ts";
export type { Session } from "./session.ts";
export { rawTcp, rawWs } from "./raw.ts";
export type { RawTcp, RawWs } from "./raw.ts";
export { ColmenaError } from "@colmena/protocol";
