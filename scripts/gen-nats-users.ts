// Writes the NATS users of deploy/ from the registries (`npm run nats-users`).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "@colmena/runtime";
import { natsUserFiles } from "./nats-users.ts";

for (const { path, text } of natsUserFiles()) {
  writeFileSync(join(repoRoot(), path), text);
  console.log(`wrote ${path}`);
}
