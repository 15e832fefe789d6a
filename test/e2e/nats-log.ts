/** What a nats-server's log says of refused clients. */
import { readFileSync } from "node:fs";

/**
 * The log's permission violations and refused logins. nats-server 2.15 writes
 * `Publish Violation` and `Subscription Violation` (the client reads them as
 * `Permissions Violation for ...`), and `Authorization Error`. `by` keeps only
 * the lines of connections whose name contains it.
 */
export function natsViolations(logFile: string, by?: string): string[] {
  return readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => /Violation|Authorization Error/i.test(l) && (by === undefined || l.includes(by)));
}
