/**
 * Resolves what a client names as `type` (a name, an alias, or a numeric
 * code given as a string or an integer) to a task type. Adding a type is one
 * file beside this one and one entry in BUILTIN_TYPES.
 */
import { badRequest } from "@colmena/protocol";
import type { TaskType } from "./define.ts";
import { reverse } from "./reverse.ts";
import { sleep } from "./sleep.ts";
import { uppercase } from "./uppercase.ts";
import { wordCount } from "./word-count.ts";

export const BUILTIN_TYPES: readonly TaskType[] = [uppercase, reverse, wordCount, sleep] as TaskType[];

export class TaskTypes {
  private readonly byName = new Map<string, TaskType>();

  constructor(types: readonly TaskType[] = BUILTIN_TYPES) {
    for (const t of types) {
      for (const n of [t.name, ...t.aliases]) {
        const key = n.toLowerCase();
        if (this.byName.has(key)) throw new Error(`task type name "${n}" is used twice`);
        this.byName.set(key, t);
      }
    }
  }

  /** The type a client means, or `bad_request` naming the known ones. */
  resolve(type: string | number): TaskType {
    const key = String(type).trim().toLowerCase();
    const t = this.byName.get(key);
    if (!t) throw badRequest(`unknown task type "${type}"; known: ${this.names().join(", ")}`, [{ path: "type", message: "unknown task type" }]);
    return t;
  }

  /** The canonical names. */
  names(): string[] {
    return [...new Set([...this.byName.values()].map((t) => t.name))];
  }

  /** Looks a canonical name up on a worker (the API stored the canonical name). */
  get(name: string): TaskType | undefined {
    return this.byName.get(name.toLowerCase());
  }
}
