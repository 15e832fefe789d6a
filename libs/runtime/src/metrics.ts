import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** One Prometheus registry per process; every service in the process adds to it. */
export const metrics = new Registry();
collectDefaultMetrics({ register: metrics });

function existing<T>(name: string): T | undefined {
  return metrics.getSingleMetric(name) as T | undefined;
}

export function counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
  return existing<Counter<string>>(name) ?? new Counter({ name, help, labelNames, registers: [metrics] });
}
export function gauge(name: string, help: string, labelNames: string[] = []): Gauge<string> {
  return existing<Gauge<string>>(name) ?? new Gauge({ name, help, labelNames, registers: [metrics] });
}
export function histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]): Histogram<string> {
  return existing<Histogram<string>>(name) ?? new Histogram({ name, help, labelNames, buckets, registers: [metrics] });
}
