/** The notify service's HTTP routes (protocol.md section 8). */
import { defineHttpRoute } from "./define.ts";

const NOTIFY = "notify";

export const notifyRoutes = [
  defineHttpRoute({
    name: "events",
    service: NOTIFY,
    methods: ["GET"],
    prefix: "/v1/notify/events",
    exact: true,
    access: "user",
    tokenQuery: true,
    requestHeaders: ["accept", "last-event-id"],
    longLived: true,
    summary: "Streams the caller's notifications as Server-Sent Events (resumable with Last-Event-ID) or NDJSON, first those newer than ?since=.",
  }),
  defineHttpRoute({
    name: "publish",
    service: NOTIFY,
    methods: ["POST", "PUT"],
    prefix: "/v1/notify/",
    access: "user",
    requestHeaders: ["title"],
    body: true,
    summary: "Publishes to the topic after the prefix: the body as text (Title header) or JSON {title, body?, data?}; answers as notify.publish.",
  }),
] as const;
