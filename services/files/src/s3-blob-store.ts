/**
 * The blob store on any S3 server (MinIO, or any other) through the `minio`
 * client: one bucket, created when missing. Ranges are S3 ranged GETs.
 */
import { Client } from "minio";
import { sliceStream, type BlobStore, type ByteRange } from "./blob-store.ts";

export interface S3Options {
  /** `http(s)://host:port` */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region?: string;
}

export async function openS3BlobStore(opts: S3Options): Promise<BlobStore> {
  const url = new URL(opts.endpoint);
  const useSSL = url.protocol === "https:";
  const client = new Client({
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: opts.accessKey,
    secretKey: opts.secretKey,
    region: opts.region ?? "us-east-1",
    pathStyle: true,
  });
  if (!(await client.bucketExists(opts.bucket).catch(() => false))) {
    try {
      await client.makeBucket(opts.bucket, opts.region ?? "us-east-1");
    } catch (err) {
      // Another replica made it first.
      if (!/already (own|exist)/i.test(String((err as Error).message))) throw err;
    }
  }
  return new S3BlobStore(client, opts.bucket);
}

const isMissing = (err: unknown) => ["NoSuchKey", "NotFound", "NoSuchObject"].includes((err as { code?: string }).code ?? "");

class S3BlobStore implements BlobStore {
  readonly kind = "s3";
  constructor(private readonly client: Client, private readonly bucket: string) {}

  async put(key: string, bytes: Uint8Array): Promise<void> {
    // A piece is below the client's multipart threshold (5 MiB): one PUT.
    await this.client.putObject(this.bucket, key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength);
  }

  async get(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array> | null> {
    try {
      if (range) {
        if (range.end <= range.start) return (async function* () {})();
        const length = range.end - range.start;
        // Cut to the length asked for: s3rver answers `bytes=0-0` with the whole object.
        return sliceStream(await this.client.getPartialObject(this.bucket, key, range.start, length), { start: 0, end: length });
      }
      return await this.client.getObject(this.bucket, key);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async size(key: string): Promise<number | null> {
    try {
      return (await this.client.statObject(this.bucket, key)).size;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.removeObject(this.bucket, key);
  }

  async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const o of this.client.listObjectsV2(this.bucket, prefix, true)) if (o.name) out.push(o.name);
    return out;
  }
}
