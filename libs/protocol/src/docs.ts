/**
 * Renders the protocol reference (docs/protocol.md) from the registries in
 * this package, so the document cannot drift from the code: error codes from
 * errors.ts, ops with their request and reply fields from the zod schemas.
 */
import { z } from "zod";
import { ERROR_CODES, ErrorCodes } from "./errors.ts";
import type { EventDef } from "./events/define.ts";
import { EVENTS } from "./events/registry.ts";
import type { OpDef } from "./ops/define.ts";
import { OPS } from "./ops/registry.ts";

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  default?: unknown;
};

const BIG = 9007199254740991;

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" \\| ");
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeOf).join(" \\| ");
  if (s.type === "array") return `${s.items ? typeOf(s.items) : "any"}[]`;
  if (s.type === "object" && s.properties) return `{${Object.keys(s.properties).join(", ")}}`;
  if (Array.isArray(s.type)) return s.type.join(" \\| ");
  let t = s.type ?? "any";
  const bounds: string[] = [];
  if (s.minLength !== undefined || s.maxLength !== undefined) bounds.push(`${s.minLength ?? 0}-${s.maxLength ?? "∞"} chars`);
  if ((s.minimum !== undefined && s.minimum !== -BIG) || (s.maximum !== undefined && s.maximum !== BIG))
    bounds.push(`${s.minimum === -BIG || s.minimum === undefined ? "" : s.minimum}..${s.maximum === BIG || s.maximum === undefined ? "" : s.maximum}`);
  if (bounds.length) t += ` (${bounds.join(", ")})`;
  return t;
}

function fieldTable(schema: z.ZodType): string {
  const js = z.toJSONSchema(schema, { unrepresentable: "any", io: "input" }) as JsonSchema;
  const props = js.properties ?? {};
  const names = Object.keys(props);
  if (names.length === 0) return "_no fields_\n";
  const req = new Set(js.required ?? []);
  const rows = names.map((n) => `| \`${n}\` | ${typeOf(props[n])} | ${req.has(n) ? "yes" : "no"} |`);
  return ["| field | type | required |", "| --- | --- | --- |", ...rows].join("\n") + "\n";
}

/** What the op's declaration tells the gateway to do, in words (nothing for most ops). */
function gatewayNotes(d: OpDef): string[] {
  const notes: string[] = [];
  if (d.session === "login") notes.push("A successful reply authenticates the connection.");
  if (d.session === "logout") notes.push("A successful reply leaves the connection unauthenticated.");
  if (d.timeout)
    notes.push(`${d.timeout.when ? `With \`${d.timeout.when}: true\` the` : "The"} gateway waits for the reply as long as \`${d.timeout.field}\` says (default ${d.timeout.defaultMs} ms), not its own request timeout.`);
  if (d.idempotent)
    notes.push("Idempotent: where its answer was lost (the replica or the gateway died), the gateway sends it once more to another replica, and the SDK again after a reconnect, rather than answering `unavailable`.");
  if (d.legacy) notes.push(`Also serves the original clients' frames that carry \`${d.legacy.marker}\` and no \`op\` (protocol.md section 9).`);
  return notes.length ? [notes.join(" "), ""] : [];
}

function opSection(d: OpDef): string {
  return [
    `### \`${d.op}\``,
    "",
    `${d.summary} Answered by: **${d.service}**. Access: **${d.access}**.`,
    "",
    ...gatewayNotes(d),
    "Request `data`:",
    "",
    fieldTable(d.request),
    "Reply `data`:",
    "",
    fieldTable(d.reply),
  ].join("\n");
}

function eventSection(d: EventDef): string {
  return [`### \`${d.event}\``, "", `${d.summary} Pushed by: **${d.service}**.`, "", "`data`:", "", fieldTable(d.data)].join("\n");
}

/** Groups definitions by the service that owns them, in registry order. */
function byService<T extends { service: string }>(defs: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const d of defs) out.set(d.service, [...(out.get(d.service) ?? []), d]);
  return out;
}

export function renderProtocolDoc(): string {
  const errors = ERROR_CODES.map((c) => `| \`${c}\` | ${ErrorCodes[c].status} | ${ErrorCodes[c].retryable ? "yes" : "no"} | ${ErrorCodes[c].description} |`);
  const services = [...byService(Object.values(OPS))].map(([svc, defs]) => `## Ops answered by \`${svc}\`\n\n${defs.map(opSection).join("\n")}`);
  const events = [...byService<EventDef>(Object.values(EVENTS))].map(([svc, defs]) => `## Events pushed by \`${svc}\`\n\n${defs.map(eventSection).join("\n")}`);
  return [
    "# Colmena wire protocol, version 1: reference",
    "",
    "<!-- Generated from libs/protocol by `npm run docs`; do not edit by hand. A test fails when it is stale. -->",
    "",
    "The normative contract is protocol.md (transports, frames, semantics). This page is the reference generated from `libs/protocol`, the code every client and service shares: the error-code registry, every op with its fields, and every event pushed to clients with the fields of its `data`.",
    "",
    "## Frames",
    "",
    "- Request: `{\"id\": <string 1-64 chars | integer>, \"op\": <name>, \"data\"?: {...}}`.",
    "- Reply: `{\"id\", \"ok\": true, \"data\"}` or `{\"id\", \"ok\": false, \"error\": {\"code\", \"message\", \"details\"?, \"retry_after_ms\"?}}`.",
    "- Event: `{\"event\": <name>, \"data\"}`.",
    "- Request schemas are strict: unknown fields in `data` are `bad_request`, with `details` listing `{path, message}` per failing field.",
    "",
    "## Error codes",
    "",
    "`status` is the number a service puts in `Nats-Service-Error-Code`; `retryable` tells a client (and a work consumer) whether the same request may succeed later.",
    "",
    "| code | status | retryable | when |",
    "| --- | --- | --- | --- |",
    ...errors,
    "",
    ...services,
    ...events,
  ].join("\n");
}
