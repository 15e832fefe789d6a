/**
 * Each side of a bridged call PINGs the other while the call is open and
 * gives up on a peer it has not heard from within the deadline: a replica
 * SIGKILLed mid-download, a gateway gone mid-upload, a NATS partition.
 * One timer per call; anything received counts as hearing from the peer.
 */
import type { Liveness } from "./wire.ts";

export class Watchdog {
  private last = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(liveness: Liveness, ping: () => void, dead: () => void) {
    this.timer = setInterval(() => {
      if (Date.now() - this.last > liveness.deadlineMs) {
        this.stop();
        dead();
      } else ping();
    }, liveness.keepaliveMs);
    this.timer.unref();
  }

  heard(): void {
    this.last = Date.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
