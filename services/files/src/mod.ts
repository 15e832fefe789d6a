export { FILES_VERSION, startFiles } from "./start.ts";
export type { RunningFiles, StartFilesDeps } from "./start.ts";
export { filesConfig, filesSettings } from "./config.ts";
export type { FilesConfig } from "./config.ts";
export { FILES_STREAM, pathSubject } from "./events.ts";
export type { FileEvent } from "./events.ts";
export type { BlobStore, ByteRange } from "./blob-store.ts";
// openS3BlobStore is not here: start.ts loads it (and minio) only for `COLMENA_FILES_BLOB_STORE=s3`.
export { openNatsBlobStore } from "./nats-blob-store.ts";
