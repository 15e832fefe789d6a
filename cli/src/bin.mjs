#!/usr/bin/env node
// The `colmena` executable: runs the TypeScript entry through tsx (no build step).
import { register } from "tsx/esm/api";

register();
await import("./main.ts");
