import { test } from "node:test";
import assert from "node:assert/strict";
import { parseArgs, UsageError } from "../src/args.ts";
import { cliConfig } from "../src/config.ts";

const config = cliConfig.load({});
const tasks = { wait: { type: "boolean" as const }, priority: { type: "string" as const } };

test("cli args - positionals, both value forms, booleans, and the URL from flag or config", () => {
  const a = parseArgs(["tasks", "submit", "sleep", "-1", "--priority", "high", "--wait", "--url=ws://h:1/ws"], config, [tasks]);
  assert.equal(a.command, "tasks");
  assert.deepEqual(a.positionals, ["submit", "sleep", "-1"]);
  assert.deepEqual(a.flags, { priority: "high", wait: true, url: "ws://h:1/ws" });
  assert.equal(a.url, "ws://h:1/ws");
  assert.equal(parseArgs(["ping"], cliConfig.load({ COLMENA_URL: "tcp://x:2" })).url, "tcp://x:2");
  assert.equal(parseArgs([], config).command, "help");
  assert.equal(parseArgs(["ping", "-h"], config).flags.help, true);
  assert.deepEqual(parseArgs(["call", "--", "--not-a-flag"], config).positionals, ["--not-a-flag"]);
});

test("cli args - unknown flags, missing values and values on booleans are usage errors", () => {
  for (const argv of [["ping", "--bogus"], ["ping", "--url"], ["tasks", "--wait=yes"]]) {
    assert.throws(() => parseArgs(argv, config, [tasks]), UsageError, argv.join(" "));
  }
});
