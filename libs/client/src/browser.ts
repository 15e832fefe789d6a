/**
 * The SDK for browsers (what Vite bundles for apps/web): the same client as
 * mod.ts, connecting over the browser's own WebSocket only.
 */
// First: zod must not probe eval under the page's Content-Security-Policy.
import "@colmena/protocol/no-eval";
import { ColmenaClient as PlatformClient } from "./client.ts";
import { dialBrowserWs } from "./transport-browser.ts";

export class ColmenaClient extends PlatformClient {
  protected static override dialer = dialBrowserWs;
}
export type { ClientOptions, ClientStatus, RequestOptions } from "./client.ts";
export type { Codec } from "./codec.ts";
export type { EventHandler, EventSelector, TypedEventFrame } from "./events.ts";
export { isExpired, tokenExpiry } from "./session.ts";
export type { Session } from "./session.ts";
export { ColmenaError, dmRoom } from "@colmena/protocol";
export { E2E_VERSION, decryptMessage, encryptMessage, exportPrivateKey, generateKeyPair, importKeyPair, isE2eEnc, keyDirectory, keyIdOf } from "./e2e.ts";
export type { E2eEnc, E2eKeyPair, E2ePayload, E2eRecipient, SenderKeyLookup } from "./e2e.ts";
