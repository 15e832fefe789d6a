import type { z } from "zod";
import { badRequest, clip, type ColmenaError } from "./errors.ts";

/** One failing field of a `bad_request`, as listed in `details`. */
export interface FieldIssue {
  path: string;
  message: string;
}

/**
 * Bounds on a validation error: zod reports every issue, and an issue such
 * as "unrecognized keys" lists every key, so 40,000 unknown keys would make
 * a message of the same size (issue 14). What goes on the wire is at most
 * `issues` issues, each path and message clipped, and a few keys by name.
 */
export const ISSUE_LIMITS = { issues: 20, pathChars: 200, messageChars: 200, keys: 10, keyChars: 40 } as const;

function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code !== "unrecognized_keys") return issue.message;
  const keys = issue.keys;
  const named = keys.slice(0, ISSUE_LIMITS.keys).map((k) => JSON.stringify(clip(k, ISSUE_LIMITS.keyChars))).join(", ");
  const more = keys.length > ISSUE_LIMITS.keys ? ` and ${keys.length - ISSUE_LIMITS.keys} more` : "";
  return `unknown field${keys.length === 1 ? "" : "s"}: ${named}${more}`;
}

export function issuesOf(error: z.ZodError): FieldIssue[] {
  const all = error.issues;
  const out = all.slice(0, ISSUE_LIMITS.issues).map((i) => ({
    path: clip(i.path.map(String).join(".") || "(data)", ISSUE_LIMITS.pathChars),
    message: clip(messageOf(i), ISSUE_LIMITS.messageChars),
  }));
  if (all.length > ISSUE_LIMITS.issues) out.push({ path: "(data)", message: `and ${all.length - ISSUE_LIMITS.issues} more issues` });
  return out;
}

/** Parses with a zod schema, or throws `bad_request` listing the failing fields (bounded). */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, what = "data"): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw validationError(r.error, what);
}

export function validationError(error: z.ZodError, what = "data"): ColmenaError {
  const details = issuesOf(error);
  const first = details[0];
  return badRequest(first ? `${what}.${first.path}: ${first.message}` : `${what} is invalid`, details);
}
