import { randomBytes } from "node:crypto";

/** A name no other test uses (streams, durables, rooms, users), so tests run in parallel. */
export function uniqueName(prefix = "t"): string {
  return `${prefix}${randomBytes(5).toString("hex")}`;
}
