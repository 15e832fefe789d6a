/**
 * Writes a path's next version through the entity log: the next number after
 * the path's last event, appended only if that event is still the last, so
 * two writers racing on one path get distinct versions and neither is lost
 * (the loser re-reads and takes the following number). A `msgId` (an
 * upload's commit) makes a retried write land once.
 */
import { ColmenaError } from "@colmena/protocol";
import type { EntityLog } from "@colmena/runtime";
import { pathSubject, type FileEvent } from "./events.ts";

type Draft = { kind: "version"; size: number; sha256: string; content_type: string } | { kind: "deleted" };

export async function appendVersion(log: EntityLog<FileEvent>, user: string, path: string, draft: Draft, opts: { mustExist?: boolean; msgId?: string } = {}): Promise<{ seq: number; event: FileEvent }> {
  const subject = pathSubject(user, path);
  for (let attempt = 0; attempt < 50; attempt++) {
    const last = await log.last(subject);
    if (opts.mustExist && (!last || last.event.kind === "deleted")) throw new ColmenaError("not_found", `no file ${path}`);
    const event = { ...draft, user, path, version: (last?.event.version ?? 0) + 1, created_at: Date.now() } as FileEvent;
    const r = await log.append(subject, event, last?.seq ?? 0, opts.msgId);
    if (r.ok) return { seq: r.seq, event };
  }
  throw new ColmenaError("unavailable", `too many concurrent writes to ${path}; try again`);
}
