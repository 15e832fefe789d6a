/** Benchmark 2 (issue 3): placeholder until services/tasks lands. */
import type { Benchmark } from "./lib/report.ts";

export const tasksBenchmark: Benchmark = {
  name: "tasks",
  title: "Tasks: Colmena vs BullMQ vs Celery (issue 3)",
  run: async () => {
    throw new Error("not built yet");
  },
};
