/**
 * The FILES stream: one entity per (user, path), subject
 * `files.ev.path.<user>.<sha256 of the path>` (a path's own characters need
 * not be subject tokens, and its length is bounded). Its events are the
 * path's versions: content, or a deletion marker.
 */
import { createHash } from "node:crypto";
import { encodeToken, eventSubject, serviceEvents, streamName } from "@colmena/protocol";

export const FILES_SERVICE = "files";
export const FILES_STREAM = streamName(FILES_SERVICE);
export const FILES_SUBJECTS = [serviceEvents(FILES_SERVICE)];

export interface VersionEvent {
  kind: "version";
  user: string;
  path: string;
  version: number;
  size: number;
  sha256: string;
  content_type: string;
  created_at: number;
}

export interface DeletedEvent {
  kind: "deleted";
  user: string;
  path: string;
  version: number;
  created_at: number;
}

export type FileEvent = VersionEvent | DeletedEvent;

export const pathSubject = (user: string, path: string) =>
  eventSubject(FILES_SERVICE, "path", encodeToken(user), createHash("sha256").update(path).digest("hex"));
