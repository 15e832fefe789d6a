export { FILES_VERSION, startFiles } from "./start.ts";
export type { RunningFiles, StartFilesDeps } from "./start.ts";
export { filesConfig, filesSettings } from "./config.ts";
export type { FilesConfig } from "./config.ts";
export { FILES_STREAM, pathSubject } from "./events.ts";
export type { FileEvent } from "./events.ts";
export type { BlobStore, ByteRange } from "./blob-store.ts";
export { openNatsBlobStore } from "./nats-blob-store.ts";
export { openS3BlobStore } from "./s3-blob-store.ts";
