/**
 * The path of an HTTP request as the files ops see it: percent-decoded once,
 * then the same checks as every op's `path` (pathProblem), so `..`, `%2e%2e`,
 * `%00` and an empty path are all `bad_request`, never a file.
 */
import { ColmenaError, badRequest, pathProblem } from "@colmena/protocol";

export function decodedPath(raw: string): string {
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw badRequest("the path is not valid percent-encoded UTF-8");
  }
  if (path.startsWith("/")) path = path.slice(1);
  const problem = pathProblem(path);
  if (problem) throw new ColmenaError("bad_request", `bad path: ${problem}`);
  return path;
}

/** `?version=N`, when given: a positive integer. */
export function versionParam(query: URLSearchParams): number | undefined {
  const v = query.get("version");
  if (v === null) return undefined;
  if (!/^[1-9]\d{0,15}$/u.test(v)) throw badRequest("version is a positive integer");
  return Number(v);
}
