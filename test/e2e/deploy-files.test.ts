/**
 * The deploy files carry the NATS users the generator makes from the
 * registries (libs/runtime/src/nats-permissions.ts), so they cannot drift:
 * accounts.conf and the Kubernetes ConfigMap are its output, every password
 * variable they name is set by compose and by the Kubernetes Secret, and
 * every service container connects as a user that exists.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { natsUsers, passwordVariable, repoRoot } from "@colmena/runtime";
import { natsUserFiles } from "../../scripts/nats-users.ts";

const root = repoRoot();
const read = (path: string) => readFileSync(join(root, path), "utf8");
const users = natsUsers().map((u) => u.user);

test("deploy files - accounts.conf and the k8s ConfigMap are the generator's output (npm run nats-users)", () => {
  for (const { path, text } of natsUserFiles(root)) assert.equal(read(path), text, `${path} differs from the generator's output: run npm run nats-users`);
});

test("deploy files - compose and the k8s Secret set every user's password, and services connect as existing users", () => {
  const vars = users.map(passwordVariable).sort();
  const compose = read("docker-compose.yml");
  const natsEnv = compose.slice(compose.indexOf("environment: &nats-env"), compose.indexOf("x-service:"));
  assert.deepEqual([...natsEnv.matchAll(/^\s+([A-Z_]+_PASSWORD):/gm)].map((m) => m[1]).sort(), vars);
  const secret = read("deploy/k8s/namespace.yaml");
  assert.deepEqual([...secret.matchAll(/^\s+([A-Z_]+_PASSWORD):/gm)].map((m) => m[1]).sort(), vars);
  const k8s = read("deploy/k8s/services.yaml") + read("deploy/k8s/gateway.yaml");
  const named = [...compose.matchAll(/NATS_USER: (\w+)/g), ...k8s.matchAll(/name: NATS_USER, value: (\w+)/g)].map((m) => m[1]);
  assert.ok(named.length >= 7, "every service container names its NATS user");
  for (const u of named) assert.ok(users.includes(u), `NATS_USER ${u} is no generated user`);
  for (const m of k8s.matchAll(/secretKeyRef: \{ name: colmena-nats-users, key: (\w+) \}/g)) assert.ok(vars.includes(m[1]), `${m[1]} is no user's password`);
});
