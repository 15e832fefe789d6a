import type { z } from "zod";

/**
 * One event a service pushes to clients (protocol.md section 2, "an event"):
 * its name, the service that publishes it, what it means and to whom it goes,
 * and the zod schema of its `data`. Events travel as `colmena.push.<channel>`
 * with `Colmena-Event: <name>` (design.md section 3) and reach each client as
 * `{"event": <name>, "data": ...}`.
 */
export interface EventDef<Name extends string = string, Data extends z.ZodType = z.ZodType> {
  event: Name;
  service: string;
  /** What it means and which connections get it. */
  summary: string;
  data: Data;
}

export function defineEvent<Name extends string, Data extends z.ZodType>(def: EventDef<Name, Data>): EventDef<Name, Data> {
  return def;
}
