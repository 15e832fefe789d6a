/** The `colmena tasks` command group against a running system. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { uniqueName } from "@colmena/testing";
import { Cli, finished } from "./cli-runner.ts";
import { startSystem } from "./harness.ts";

test("cli - tasks submit, get, list, cancel and watch", async () => {
  await using sys = await startSystem({ services: ["auth", "tasks"] });
  using cli = new Cli(sys.gateway.tcpUrl);
  const colmena = (args: string[]) => cli.run(args);
  const user = uniqueName("clitask");
  assert.equal((await colmena(["register", user])).code, 0);
  assert.equal((await colmena(["login", user])).code, 0);

  const done = await colmena(["tasks", "submit", "mayus", "hola cli", "--wait", "--priority=high"]);
  assert.equal(done.code, 0, done.stderr);
  const r = JSON.parse(done.stdout);
  assert.deepEqual([r.status, r.result], ["done", "HOLA CLI"]);

  // Not a terminal: the progress a waited-for task reports is plain lines on stderr, the result alone on stdout.
  const slow = await colmena(["tasks", "submit", "sleep", "1.5", "--wait"]);
  assert.equal(slow.code, 0, slow.stderr);
  const slowResult = JSON.parse(slow.stdout);
  assert.equal(slowResult.result, 1.5);
  assert.match(slow.stderr, new RegExp(`${slowResult.task_id} progress \\d+%`));

  const later = JSON.parse((await colmena(["tasks", "submit", "upper", "x", "--delay=60000", "--key=cli-1"])).stdout);
  assert.equal(later.status, "queued");
  const got = JSON.parse((await colmena(["tasks", "get", later.task_id])).stdout);
  assert.equal(got.run_at > got.created_at, true);
  assert.deepEqual(JSON.parse((await colmena(["tasks", "cancel", later.task_id])).stdout), { task_id: later.task_id, status: "cancelled" });
  const list = JSON.parse((await colmena(["tasks", "list", "--status=done"])).stdout);
  assert.deepEqual(list.tasks.map((t: { task_id: string }) => t.task_id), [slowResult.task_id, r.task_id]);

  // watch <id> prints the task's events and exits when it ends.
  const sleeping = JSON.parse((await colmena(["tasks", "submit", "sleep", "2"])).stdout);
  const { code, stdout: out, stderr } = await finished(cli.spawn(["tasks", "watch", sleeping.task_id]), 30_000);
  assert.equal(code, 0, stderr);
  const frames = out.trim().split("\n").map((l) => JSON.parse(l));
  const last = frames.at(-1);
  // The done event, or the finished record when the task ended before the watcher listened.
  const end = last.event ? last.data : last;
  assert.equal(last.event ?? "task.done", "task.done");
  assert.deepEqual([end.task_id, end.result], [sleeping.task_id, 2]);

  const usage = await colmena(["tasks", "explode"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /colmena tasks submit/);
});
