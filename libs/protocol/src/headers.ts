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
  serviceErrorCode: "Nats-Service-Error-Code",
  serviceError: "Nats-Service-Error",
} as const;
