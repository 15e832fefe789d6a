import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsUsers } from "@colmena/runtime";
import { loadCredentials } from "../src/runner/credentials.ts";

test("runner credentials - generated once with mode 0600, reused after, completed for new users", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "colmena-creds-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "credentials.json");
  const first = loadCredentials(file);
  assert.deepEqual(Object.keys(first).sort(), natsUsers().map((u) => u.user).sort());
  assert.equal(new Set(Object.values(first)).size, Object.keys(first).length, "a password per user");
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(loadCredentials(file), first, "the next start reuses them");
  // A user added to the registry since (here: one dropped from the file) gets a password; the others stay.
  const { tasks: _dropped, ...rest } = first;
  writeFileSync(file, JSON.stringify(rest));
  chmodSync(file, 0o644);
  const again = loadCredentials(file);
  assert.equal(again.gateway, first.gateway);
  assert.ok(again.tasks && again.tasks !== first.tasks);
  assert.equal(statSync(file).mode & 0o777, 0o600, "looser rights are tightened");
  assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), again);
});
