/**
 * S3 servers for the blob-store contract suite, started by the tests
 * themselves, three independent implementations: s3rver (npm) in-process;
 * moto's server (Python) when `moto_server` is on PATH (pip's moto, on these
 * machines); `rclone serve s3` (Go) when the rclone on PATH has it (Debian's
 * do not, not even sid's 1.75: it is left out of Debian's build). A server
 * that cannot run here is null, and its test is skipped, saying why.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitUntil } from "@colmena/testing";
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

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });

/** A server process on a free port, ready once the port takes connections. */
async function serverProcess(bin: string, args: (port: number, dir: string) => string[], options: Omit<S3Options, "endpoint">): Promise<RunningS3> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "s3-"));
  const child = spawn(bin, args(port, dir), { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err = (err + d).slice(-4000)));
  try {
    await waitUntil(`${bin} on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`${bin} exited (${child.exitCode}): ${err}`);
      return listening(port);
    }, 30_000);
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    options: { endpoint: `http://127.0.0.1:${port}`, ...options },
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An rclone on PATH that has `serve s3`; null when none. */
export function rcloneBinary(): string | null {
  try {
    const help = execFileSync("rclone", ["serve", "--help"], { encoding: "utf8", timeout: 10_000 });
    return /^\s+s3\s/m.test(help) ? "rclone" : null;
  } catch {
    return null;
  }
}

export async function startRcloneS3(bin: string, bucket = "colmena-files-test"): Promise<RunningS3> {
  const keys = { accessKey: "colmena", secretKey: "colmena-secret" };
  return serverProcess(bin, (port, dir) => ["serve", "s3", "--addr", `127.0.0.1:${port}`, "--auth-key", `${keys.accessKey},${keys.secretKey}`, dir], { ...keys, bucket });
}

/** moto's S3 server, when `moto_server` is installed; null otherwise. */
export function motoBinary(): string | null {
  try {
    execFileSync("moto_server", ["--help"], { stdio: "ignore", timeout: 30_000 });
    return "moto_server";
  } catch {
    return null;
  }
}

export async function startMotoS3(bin: string, bucket = "colmena-files-test"): Promise<RunningS3> {
  // moto takes any credentials.
  return serverProcess(bin, (port) => ["-H", "127.0.0.1", "-p", String(port)], { accessKey: "moto", secretKey: "moto", bucket });
}
