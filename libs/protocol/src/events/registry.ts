/**
 * The event registry: every event pushed to clients, by name, as the op
 * registry lists every op. Services add their events beside their ops (in
 * ops/<service>.ts) and one line here.
 */
import type { z } from "zod";
import type { EventDef } from "./define.ts";
import { tasksEvents } from "../ops/tasks.ts";
import { notifyEvents } from "../ops/notify.ts";
import { chatEvents } from "../ops/chat.ts";
import { sessionEvents } from "../ops/session.ts";

const defs = {
  ...sessionEvents,
  ...tasksEvents,
  ...notifyEvents,
  ...chatEvents,
};

export const EVENTS: Readonly<{ [K in keyof typeof defs]: (typeof defs)[K] }> = Object.freeze(defs);

/** The name of a registered event: `"task.done" | "task.failed" | ...`. */
export type EventName = keyof typeof defs;
/** The `data` of a registered event, as a client receives it. */
export type EventData<E extends EventName> = z.output<(typeof defs)[E]["data"]>;
/** Every registered event's data by name (what `client.on` is typed with). */
export type EventMap = { [E in EventName]: EventData<E> };

export function findEvent(name: string): EventDef | undefined {
  return Object.hasOwn(EVENTS, name) ? (EVENTS as Record<string, EventDef>)[name] : undefined;
}

/** The first token of an event name: `task` of `task.done`. */
type Family<E extends string> = E extends `${infer F}.${string}` ? F : never;
/** Families that registered events use; a name in one of them must be registered. */
type RegisteredFamily = Family<EventName>;

/**
 * `E` itself when it is a registered event, or a free-form name outside every
 * registered family (diag's client-chosen names, tests); `never` for an
 * unregistered name in a registered family (`task.dnoe`), so a typo is a
 * compile error where the event is published or listened to. A name only
 * known at run time (`string`) is not checked.
 */
export type CheckedEventName<E extends string> = string extends E
  ? E
  : E extends EventName
    ? E
    : [Family<E>] extends [never]
      ? E
      : Family<E> extends RegisteredFamily
        ? never
        : E;

/** The data type of an event name: the schema's for registered events, `unknown` for free-form ones. */
export type EventDataOf<E extends string> = E extends EventName ? EventData<E> : unknown;
