import type { Logger } from "pino";

type Closer = () => Promise<unknown> | unknown;

/**
 * Graceful shutdown: closers run in reverse order of registration (stop
 * accepting, drain services, then close NATS), once, on SIGTERM or SIGINT.
 */
export class Lifecycle {
  private closers: { name: string; fn: Closer }[] = [];
  private closing: Promise<void> | null = null;

  constructor(private readonly log: Logger) {}

  onClose(name: string, fn: Closer): void {
    this.closers.push({ name, fn });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const { name, fn } of [...this.closers].reverse()) {
        try {
          await fn();
        } catch (err) {
          this.log.warn({ err, part: name }, "error while closing");
        }
      }
    })();
    return this.closing;
  }

  /** Exits after a clean close; a second signal, or a close over `graceMs`, exits at once. */
  handleSignals(graceMs = 15_000): void {
    const onSignal = (sig: NodeJS.Signals) => {
      if (this.closing) process.exit(130);
      this.log.info({ signal: sig }, "shutting down");
      const t = setTimeout(() => process.exit(1), graceMs);
      t.unref();
      void this.close().then(() => process.exit(0));
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }
}
