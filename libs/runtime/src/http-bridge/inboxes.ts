/**
 * The call inboxes of one bridge endpoint (a gateway, or a replica): ONE
 * wildcard subscription, `<inbox prefix>.http.<nuid>.*`, demultiplexed by the
 * last token (the call id), rather than a subscription per call. The prefix
 * comes from `newInbox` (the NATS user may subscribe only under its own), in
 * the `http` scope the peers' permissions allow publishing to.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { nuid } from "@nats-io/transport-node";
import { newInbox } from "../connect.ts";
import { HTTP_INBOX_SCOPE } from "./wire.ts";

export class CallInboxes {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly calls = new Map<string, (m: Msg) => void>();

  constructor(nc: NatsConnection, onStray?: (id: string, m: Msg) => void) {
    this.prefix = newInbox(nc, HTTP_INBOX_SCOPE);
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, m) => {
        if (err) return;
        const id = m.subject.slice(this.prefix.length + 1);
        const to = this.calls.get(id);
        if (to) to(m);
        else onStray?.(id, m);
      },
    });
  }

  /** A new call's id and inbox; its messages go to `onMessage` until `close`. */
  open(onMessage: (m: Msg) => void): { id: string; inbox: string; close(): void } {
    const id = nuid.next();
    this.calls.set(id, onMessage);
    return { id, inbox: `${this.prefix}.${id}`, close: () => this.calls.delete(id) };
  }

  get size(): number {
    return this.calls.size;
  }

  close(): void {
    this.calls.clear();
    this.sub.unsubscribe();
  }
}
