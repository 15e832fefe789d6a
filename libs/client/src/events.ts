import type { CheckedEventName, EventDataOf, EventFrame } from "@colmena/protocol";

type Handler = (data: unknown, frame: EventFrame) => void;

/**
 * The event frame of one name: a registered event's `data` has its schema's
 * type (libs/protocol EVENTS); `*` and free-form names carry `unknown`.
 */
export interface TypedEventFrame<E extends string> extends EventFrame {
  event: E extends "*" ? string : E;
  data: EventDataOf<E>;
}

/** What `client.on` accepts: `*`, a registered event, or a name outside every registered family. */
export type EventSelector<E extends string> = "*" | CheckedEventName<E>;

/** A handler for events of one name. */
export type EventHandler<E extends string> = (data: EventDataOf<E>, frame: TypedEventFrame<E>) => void;

/** Event handlers by name (`*` for all) and async iterators over them. */
export class EventHub {
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly enders = new Set<() => void>();

  on(name: string, h: Handler): void {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(h);
  }

  off(name: string, h: Handler): void {
    this.handlers.get(name)?.delete(h);
  }

  emit(frame: EventFrame): void {
    for (const key of [frame.event, "*"]) {
      for (const h of this.handlers.get(key) ?? []) {
        try {
          h(frame.data, frame);
        } catch {
          // A failing handler must not break the connection's read loop.
        }
      }
    }
  }

  /** Buffers events until they are read; ends when `end()` is called or the loop breaks. */
  iterate(name: string): AsyncIterableIterator<EventFrame> {
    const queue: EventFrame[] = [];
    let waiting: ((r: IteratorResult<EventFrame>) => void) | null = null;
    let done = false;
    const handler: Handler = (_d, frame) => {
      if (waiting) {
        const w = waiting;
        waiting = null;
        w({ value: frame, done: false });
      } else queue.push(frame);
    };
    const finish = () => {
      if (done) return;
      done = true;
      this.off(name, handler);
      this.enders.delete(finish);
      if (waiting) waiting({ value: undefined, done: true });
      waiting = null;
    };
    this.on(name, handler);
    this.enders.add(finish);
    const it: AsyncIterableIterator<EventFrame> = {
      next: () => {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => (waiting = r));
      },
      return: () => {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  end(): void {
    for (const f of [...this.enders]) f();
  }
}
