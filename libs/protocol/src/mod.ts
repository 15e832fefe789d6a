export {
  ColmenaError,
  ErrorCodes,
  ERROR_CODES,
  ERROR_LIMITS,
  badRequest,
  boundDetails,
  clip,
  codeOfStatus,
  conflict,
  forbidden,
  isErrorCode,
  notFound,
  statusOf,
  unauthorized,
} from "./errors.ts";
export type { ColmenaErrorOptions, ErrorBody, ErrorCode } from "./errors.ts";
export {
  FrameError,
  MAX_DATA_DEPTH,
  PROTOCOL_VERSION,
  errorReply,
  eventFrame,
  isFrameId,
  nestsDeeperThan,
  okReply,
  parseRequest,
  readId,
} from "./frames.ts";
export type { EventFrame, FrameId, ReplyFrame, RequestFrame, ServerFrame } from "./frames.ts";
export { Headers, REPLICA_LOST_MS, RESPONSES_MAX, SERVICE_KEEPALIVE_MS } from "./headers.ts";
export {
  ALL_CONN_LIFECYCLE,
  ALL_GATEWAY_HEARTBEATS,
  MULTICAST_NAME,
  MULTICAST_SUBJECT,
  PUSH_ROOT,
  SYS_ROOT,
  SUBJECT_ROOT,
  assertToken,
  channel,
  channelOfPushSubject,
  connLifecycleSubject,
  decodeToken,
  encodeToken,
  eventSubject,
  gatewayHeartbeatSubject,
  httpRouteSubject,
  isChannel,
  isToken,
  opSubject,
  pushSubject,
  serviceEvents,
  streamName,
  userChannel,
} from "./subjects.ts";
export type { ConnLifecycle } from "./subjects.ts";
export { MULTICAST_MAX_CHANNELS, decodeMulticast, encodeMulticast } from "./multicast.ts";
export { ISSUE_LIMITS, issuesOf, parseWith, validationError } from "./validation.ts";
export type { FieldIssue } from "./validation.ts";
export { BUCKETS } from "./buckets.ts";
export type { BucketDef, StreamReaderDef } from "./buckets.ts";
export { STREAM_READERS } from "./buckets.ts";
export { GATEWAY_SERVICE, defineOp } from "./ops/define.ts";
export type { ConnHeader, GatewayAnswer, LegacyFrame, OpAccess, OpDef, OpTimeout, ReplyOf, RequestOf, SessionEffect } from "./ops/define.ts";
export { OPS, coreServices, findOp, gatewayOp, legacyOpOf, opsOf } from "./ops/registry.ts";
export { defineEvent } from "./events/define.ts";
export type { EventDef } from "./events/define.ts";
export { EVENTS, findEvent } from "./events/registry.ts";
export type { CheckedEventName, EventData, EventDataOf, EventMap, EventName } from "./events/registry.ts";
export {
  CONN_CLOSE_REASONS,
  GATEWAY_HEARTBEAT_MS,
  GATEWAY_MISSED_HEARTBEATS,
  connClosed,
  connOpened,
  gatewayDeadline,
  gatewayHeartbeat,
} from "./lifecycle.ts";
export type { ConnClosed, ConnOpened, GatewayHeartbeat } from "./lifecycle.ts";
export { password, username } from "./ops/session.ts";
export { DIAG_SERVICE, diagOps } from "./ops/diag.ts";
export { authOps, sessionClosing, sessionEvents, sessionResync } from "./ops/session.ts";
export { TASK_PRIORITIES, TASK_STATUSES, taskId, taskRecord, tasksEvents, tasksOps } from "./ops/tasks.ts";
export type { TaskPriority, TaskRecord, TaskStatus } from "./ops/tasks.ts";
export { NOTIFY_CHANNELS, PATTERN_RE, RESERVED_TOPIC_ROOTS, TOPIC_RE, notificationId, notificationRecord, notifyEvents, notifyOps, notifyPattern, notifyTopic, userTopicToken } from "./ops/notify.ts";
export type { NotificationRecord, NotifyChannel } from "./ops/notify.ts";
export { FILES_CHUNK_SIZE, FILES_INLINE_MAX, FILES_READ_MAX, FILES_SHARE_TTL_MAX_S, filePath, filesOps, pathProblem } from "./ops/files.ts";
export { MSGPACK_ENCODING, binaryField, binaryReply, bytesAsBase64, utf8Bytes, utf8Length } from "./binary.ts";
export { LOBBY, MAX_BODY_BYTES, MAX_CIPHERTEXT_CHARS, chatEvents, chatMessage, chatOps, dmRoom, roomName } from "./ops/chat.ts";
export type { ChatMessage } from "./ops/chat.ts";
export { defineHttpRoute } from "./http/define.ts";
export type { HttpAccess, HttpAnswer, HttpCall, HttpHandler, HttpMethod, HttpRouteDef } from "./http/define.ts";
export { HTTP_ROUTES, httpRoutesOf, matchHttpRoute } from "./http/registry.ts";
