import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ColmenaError, ERROR_CODES, ErrorCodes, codeOfStatus, statusOf } from "@colmena/protocol";
import { repoRoot } from "@colmena/runtime";
import { renderProtocolDoc } from "../src/docs.ts";

const docFile = join(repoRoot(), "docs", "protocol.md");

test("protocol - every error code and every numeric status is unique and maps back", () => {
  const statuses = ERROR_CODES.map(statusOf);
  assert.equal(new Set(statuses).size, statuses.length);
  for (const code of ERROR_CODES) assert.equal(codeOfStatus(statusOf(code)), code);
  assert.equal(codeOfStatus(999), "internal");
});

test("protocol - the registry holds exactly the codes of protocol.md section 3", () => {
  // The normative list, copied from the spec; a new code needs a protocol version bump.
  const spec = ["bad_frame", "frame_too_large", "unknown_op", "bad_request", "unauthorized", "forbidden", "not_found", "conflict", "quota_exceeded", "rate_limited", "unavailable", "timeout", "internal"];
  assert.deepEqual([...ERROR_CODES].sort(), [...spec].sort());
});

test("protocol - docs/protocol.md lists exactly the codes of the registry", () => {
  const doc = readFileSync(docFile, "utf8");
  const section = doc.slice(doc.indexOf("## Error codes"), doc.indexOf("## Ops"));
  const listed = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(listed.sort(), [...ERROR_CODES].sort());
});

test("protocol - docs/protocol.md is up to date with libs/protocol (run `npm run docs`)", () => {
  assert.equal(readFileSync(docFile, "utf8"), renderProtocolDoc(), "docs/protocol.md is stale: run `npm run docs`");
});

test("protocol - ColmenaError round-trips through its wire body", () => {
  const e = new ColmenaError("rate_limited", "slow down", { retryAfterMs: 250, details: { n: 1 } });
  const back = ColmenaError.fromBody(JSON.parse(JSON.stringify(e.toBody())));
  assert.equal(back.code, "rate_limited");
  assert.equal(back.retryAfterMs, 250);
  assert.deepEqual(back.details, { n: 1 });
  assert.equal(back.retryable, ErrorCodes.rate_limited.retryable);
  assert.equal(ColmenaError.fromBody({ code: "nonsense" as never, message: "x" }).code, "internal");
});
