/** The files service's HTTP routes (protocol.md section 7). */
import { defineHttpRoute } from "./define.ts";

const FILES = "files";

export const filesRoutes = [
  defineHttpRoute({
    name: "content",
    service: FILES,
    methods: ["GET", "HEAD", "PUT"],
    prefix: "/v1/files/",
    access: "user",
    requestHeaders: ["range", "if-none-match", "if-range"],
    body: true,
    summary: "PUT stores the body as a new version of the path (the JSON of files.upload.commit); GET/HEAD stream a version, with Range, ETag and If-None-Match.",
  }),
  defineHttpRoute({
    name: "share",
    service: FILES,
    methods: ["GET", "HEAD"],
    prefix: "/v1/share/",
    access: "public",
    requestHeaders: ["range", "if-none-match", "if-range"],
    summary: "Downloads the one version a files.share token names, while the token is valid and the file exists.",
  }),
  defineHttpRoute({
    name: "tus",
    service: FILES,
    methods: ["OPTIONS", "POST", "HEAD", "PATCH", "DELETE"],
    prefix: "/v1/tus/",
    access: "optional",
    requestHeaders: ["tus-resumable", "upload-length", "upload-offset", "upload-metadata", "upload-checksum", "upload-defer-length"],
    body: true,
    responseHeaders: { "Tus-Resumable": "1.0.0" },
    summary: "tus 1.0 resumable uploads (creation, creation-with-upload, termination, checksum, expiration), the same uploads as files.upload.*.",
  }),
] as const;
