/**
 * Every HTTP route services answer through the gateway, by service. A service
 * adds its routes in a file of its own (beside its ops) and one line here.
 */
import type { HttpMethod, HttpRouteDef } from "./define.ts";
import { filesRoutes } from "./files.ts";
import { notifyRoutes } from "./notify.ts";

export const HTTP_ROUTES: readonly HttpRouteDef[] = Object.freeze([...filesRoutes, ...notifyRoutes]);

/** The routes of one service. */
export function httpRoutesOf(service: string): HttpRouteDef[] {
  return HTTP_ROUTES.filter((r) => r.service === service);
}

function serves(r: HttpRouteDef, path: string): boolean {
  return r.exact ? path === r.prefix : path.startsWith(r.prefix) || path === r.prefix.replace(/\/$/u, "");
}

/**
 * The route for a request: among the routes whose path matches, the longest
 * prefix that takes the method. `methodMismatch` when a route serves the path
 * but none takes the method (405), `undefined` when none serves the path (404).
 */
export function matchHttpRoute(method: string, path: string): HttpRouteDef | "methodMismatch" | undefined {
  const matching = HTTP_ROUTES.filter((r) => serves(r, path)).sort((a, b) => b.prefix.length - a.prefix.length);
  if (matching.length === 0) return undefined;
  return matching.find((r) => r.methods.includes(method as HttpMethod)) ?? "methodMismatch";
}
