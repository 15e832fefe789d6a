import type { ServerFrame } from "@colmena/protocol";
import type { Codec, OutgoingFrame } from "./codec.ts";

/**
 * One live connection to a gateway, whatever carries it. The client owns
 * reconnection; a transport is used once and then dropped.
 */
export interface Transport {
  send(frame: OutgoingFrame): void;
  /** Closes the connection; `onClose` still fires once. */
  close(): void;
  onFrame: (frame: ServerFrame) => void;
  onClose: (err?: Error) => void;
}

export interface TransportOptions {
  /** How long to wait for the connection to open. */
  connectTimeoutMs: number;
  /** Extra TLS options for `tls://` and `wss://` (a private CA, for instance). */
  tls?: { ca?: string | Uint8Array; rejectUnauthorized?: boolean; servername?: string };
}

/** Opens one connection to `url`: what an entry point plugs into the client. */
export type Dialer = (url: URL, codec: Codec, opts: TransportOptions) => Promise<Transport>;
