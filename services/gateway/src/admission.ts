/**
 * Connection caps (issue 14, item 4): in all and per source address. Each
 * connection may hold up to a frame's worth of unfinished bytes, so without
 * a cap the count of connections alone exhausts memory, no login needed.
 * A connection takes a slot when accepted and gives it back when it closes.
 */
import { counter } from "@colmena/runtime";

const refused = counter("colmena_gateway_connections_refused_total", "connections refused at accept, by reason", ["reason"]);

/** How long a refused client should wait before trying again. */
export const REFUSED_RETRY_MS = 1000;

/** The address a limit counts: IPv4 clients of a dual-stack listener arrive as `::ffff:a.b.c.d`. */
export function sourceOf(remoteAddress: string | undefined): string {
  if (!remoteAddress) return "?";
  return remoteAddress.startsWith("::ffff:") ? remoteAddress.slice(7) : remoteAddress;
}

export type Admitted = { ok: true; release(): void } | { ok: false; reason: string };

export class Admission {
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(private readonly max: number, private readonly maxPerSource: number) {}

  /** A slot for a connection from `remoteAddress`, or why there is none. */
  admit(remoteAddress: string | undefined): Admitted {
    const source = sourceOf(remoteAddress);
    const mine = this.bySource.get(source) ?? 0;
    if (this.total >= this.max) {
      refused.inc({ reason: "total" });
      return { ok: false, reason: `this gateway holds its limit of ${this.max} connections; try again later or another gateway` };
    }
    if (mine >= this.maxPerSource) {
      refused.inc({ reason: "source" });
      return { ok: false, reason: `your address holds its limit of ${this.maxPerSource} connections` };
    }
    this.total++;
    this.bySource.set(source, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const n = (this.bySource.get(source) ?? 1) - 1;
        if (n > 0) this.bySource.set(source, n);
        else this.bySource.delete(source);
      },
    };
  }

  get open(): number {
    return this.total;
  }
}
