import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { startNats } from "@colmena/testing";
import { openNatsBlobStore } from "../src/nats-blob-store.ts";
import { openS3BlobStore } from "../src/s3-blob-store.ts";
import { blobStoreContract } from "./blob-store-contract.ts";
import { motoBinary, rcloneBinary, startMotoS3, startRcloneS3, startS3rver, type RunningS3 } from "./s3-servers.ts";

test("blob stores - the JetStream object store keeps the contract", async () => {
  await using ns = await startNats();
  const nc = await connect({ servers: ns.url });
  try {
    const store = await openNatsBlobStore(nc, "colmena_files_test");
    await blobStoreContract(store);
    // A part written without the client (a fresh key) is an object the client itself reads whole, its digest checked.
    const bytes = randomBytes(1024 * 1024 + 5);
    await store.put("u/x/0.fresh", bytes, { fresh: true });
    const os = await new Objm(nc).open("colmena_files_test");
    const info = (await os.info("u/x/0.fresh"))!;
    assert.equal(info.size, bytes.length);
    assert.equal(info.chunks, 2);
    assert.deepEqual(Buffer.from((await os.getBlob("u/x/0.fresh"))!), bytes);
  } finally {
    await nc.close();
  }
});

async function s3Contract(server: RunningS3): Promise<void> {
  await using s3 = server;
  await blobStoreContract(await openS3BlobStore(s3.options));
  // A second open finds the bucket there.
  await openS3BlobStore(s3.options);
}

test("blob stores - the S3 store keeps the contract on s3rver, the bucket created when missing", async () => {
  await s3Contract(await startS3rver());
});

test("blob stores - the S3 store keeps the contract on rclone serve s3, the bucket created when missing", async (t) => {
  const bin = rcloneBinary();
  if (!bin) return t.skip("no rclone with `serve s3` here (Debian builds rclone without it, even sid's 1.75)");
  await s3Contract(await startRcloneS3(bin));
});

test("blob stores - the S3 store keeps the contract on moto's server, the bucket created when missing", async (t) => {
  const bin = motoBinary();
  if (!bin) return t.skip("moto_server is not installed (Debian's python3-moto, or pip's moto)");
  await s3Contract(await startMotoS3(bin));
});

test("blob stores - the S3 store keeps the contract on MinIO through testcontainers", (t) => {
  let engine = false;
  try {
    execFileSync("docker", ["info", "--format", "{{.ServerVersion}}"], { stdio: "ignore", timeout: 10_000 });
    engine = true;
  } catch {
    // no Docker engine
  }
  t.skip(engine ? "testcontainers is not among the project's npm packages" : "no Docker engine runs here (and testcontainers is not among the project's npm packages)");
});
