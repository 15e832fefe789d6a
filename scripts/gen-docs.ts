// Writes docs/protocol.md from libs/protocol (`npm run docs`).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderProtocolDoc } from "../libs/protocol/src/docs.ts";
import { repoRoot } from "@colmena/runtime";

const file = join(repoRoot(), "docs", "protocol.md");
writeFileSync(file, renderProtocolDoc());
console.log(`wrote ${file}`);
