/**
 * S3 servers for the blob-store contract suite, started by the tests
 * themselves: s3rver (npm) in-process on a free port.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@colmena/testing";
// @ts-expect-error s3rver ships no type declarations
import S3rver from "s3rver";
import type { S3Options } from "../src/s3-blob-store.ts";

export interface RunningS3 extends AsyncDisposable {
  options: S3Options;
}

export async function startS3rver(bucket = "colmena-files-test"): Promise<RunningS3> {
  const port = await freePort();
  const directory = mkdtempSync(join(tmpdir(), "s3rver-"));
  const server = new S3rver({ port, address: "127.0.0.1", silent: true, directory });
  await server.run();
  return {
    // s3rver accepts its fixed development credentials.
    options: { endpoint: `http://127.0.0.1:${port}`, accessKey: "S3RVER", secretKey: "S3RVER", bucket },
    async [Symbol.asyncDispose]() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
