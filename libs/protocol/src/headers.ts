/** NATS header names shared by the gateway and the services (design.md sections 2-3). */
export const Headers = {
  user: "Colmena-User",
  username: "Colmena-Username",
  conn: "Colmena-Conn",
  requestId: "Colmena-Request-Id",
  minSeq: "Colmena-Min-Seq",
  seq: "Colmena-Seq",
  subscribe: "Colmena-Subscribe",
  unsubscribe: "Colmena-Unsubscribe",
  event: "Colmena-Event",
  excludeConn: "Colmena-Exclude-Conn",
  /** Set by the gateway on `auth.logout`: the token family of the connection. */
  tokenFamily: "Colmena-Token-Family",
  /** Set by the gateway on every request: the client's IP address (auth throttles password guesses by it). */
  remoteAddr: "Colmena-Remote-Addr",
  /** `msgpack`: the request body is MessagePack (a MessagePack client's), and so is the reply (libs/protocol/src/binary.ts). */
  encoding: "Colmena-Encoding",
  /** On a request: the caller reads keepalives. On an empty message to its reply subject: the service still works on it (`SERVICE_KEEPALIVE_MS`), this is not the reply. */
  working: "Colmena-Working",
  serviceErrorCode: "Nats-Service-Error-Code",
  serviceError: "Nats-Service-Error",
} as const;

/**
 * A service tells the gateway it still works on a request older than half
 * this with a `Colmena-Working` message every this often; a gateway that
 * hears nothing for `REPLICA_LOST_MS` takes the replica for dead and answers
 * `unavailable` (or sends an idempotent op again), instead of waiting out the
 * op's whole deadline.
 */
export const SERVICE_KEEPALIVE_MS = 1_000;
export const REPLICA_LOST_MS = 4_000;
/** Messages a service may send to one reply subject: the keepalives of the longest op (600 s), the reply, and margin. */
export const RESPONSES_MAX = 1 + 600_000 / SERVICE_KEEPALIVE_MS + 99;
