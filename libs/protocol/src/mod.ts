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
export { Headers } from "./headers.ts";
export {
  PUSH_ROOT,
  SUBJECT_ROOT,
  assertToken,
  channel,
  channelOfPushSubject,
  decodeToken,
  encodeToken,
  eventSubject,
  isToken,
  opSubject,
  pushSubject,
  serviceEvents,
  streamName,
  userChannel,
} from "./subjects.ts";
export { ISSUE_LIMITS, issuesOf, parseWith, validationError } from "./validation.ts";
export type { FieldIssue } from "./validation.ts";
export { defineOp } from "./ops/define.ts";
export type { OpAccess, OpDef, ReplyOf, RequestOf } from "./ops/define.ts";
export { OPS, findOp, opsOf } from "./ops/registry.ts";
export { password, username } from "./ops/session.ts";
export { diagOps } from "./ops/diag.ts";
export { authOps } from "./ops/session.ts";
export { TASK_PRIORITIES, TASK_STATUSES, taskId, taskRecord, tasksOps } from "./ops/tasks.ts";
export type { TaskPriority, TaskRecord, TaskStatus } from "./ops/tasks.ts";
