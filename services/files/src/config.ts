/**
 * The files service's settings: the common ones plus where blobs go, the
 * master key and the limits. Loaded once at boot and frozen.
 */
import { z } from "zod";
import { commonSettings, defineConfig, setting, type ConfigOf } from "@colmena/runtime";

export const filesSettings = {
  ...commonSettings,
  blobStore: setting("COLMENA_FILES_BLOB_STORE", z.enum(["nats", "s3"]).default("nats"), "where encrypted blobs go: the JetStream object store (nats) or an S3 server (s3)"),
  s3Endpoint: setting("S3_ENDPOINT", z.string().url().optional(), "the S3 server, http(s)://host:port (blob store s3)"),
  s3AccessKey: setting("S3_ACCESS_KEY", z.string().optional(), "the S3 access key"),
  s3SecretKey: setting("S3_SECRET_KEY", z.string().optional(), "the S3 secret key"),
  s3Bucket: setting("S3_BUCKET", z.string().default("colmena-files"), "the S3 bucket (created when missing)"),
  masterKey: setting("COLMENA_FILES_KEY", z.string().regex(/^[0-9a-fA-F]{64}$/, "64 hex digits (a 256-bit key)").optional(), "the master key that wraps every blob's data key (the local runner generates one into .colmena/)"),
  quotaBytes: setting("COLMENA_FILES_QUOTA_BYTES", z.coerce.number().int().min(0).default(1024 ** 3), "per-user storage quota"),
  uploadTtlMs: setting("COLMENA_FILES_UPLOAD_TTL_MS", z.coerce.number().int().min(1000).default(24 * 3600 * 1000), "an uncommitted upload expires this long after its last chunk"),
};

export const filesConfig = defineConfig(filesSettings);
export type FilesConfig = ConfigOf<typeof filesSettings>;
