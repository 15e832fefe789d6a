import type { z } from "zod";
import { badRequest, type ColmenaError } from "./errors.ts";

/** One failing field of a `bad_request`, as listed in `details`. */
export interface FieldIssue {
  path: string;
  message: string;
}

export function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join(".") || "(data)", message: i.message }));
}

/** Parses with a zod schema, or throws `bad_request` listing every failing field. */
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
