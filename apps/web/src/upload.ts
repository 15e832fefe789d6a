/**
 * Uploads through tus (protocol.md section 7, `/v1/tus/` on the gateway) with
 * tus-js-client: it remembers each upload's URL in localStorage by the file's
 * fingerprint, so choosing the same file again after a reload or a dropped
 * connection goes on from the server's offset instead of starting over.
 */
import { Upload, defaultOptions, type PreviousUpload } from "tus-js-client";
import type { ColmenaClient } from "@colmena/client/browser";
import { accessToken } from "./connection.ts";

/** `resumed`: an earlier upload of this same file goes on (from the offset the server has). */
export interface UploadProgress { path: string; sent: number; total: number; resumed?: boolean }

export function startUpload(client: ColmenaClient, file: File, path: string, onProgress: (p: UploadProgress) => void): { done: Promise<void>; abort: () => void } {
  let upload!: Upload;
  let resumed = false;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    fail = reject;
    upload = new Upload(file, {
      endpoint: new URL("/v1/tus/", location.href).href,
      metadata: { path, content_type: file.type || "application/octet-stream", filename: file.name },
      chunkSize: 4 << 20,
      retryDelays: [0, 1_000, 3_000, 5_000, 10_000],
      removeFingerprintOnSuccess: true,
      // The token is read for every request: a long upload outlives one access token.
      onBeforeRequest: async (req) => { req.setHeader("Authorization", `Bearer ${await accessToken(client)}`); },
      onProgress: (sent, total) => onProgress({ path, sent, total, resumed }),
      onSuccess: () => resolve(),
      onError: (err) => reject(err),
    });
  });
  void upload.findPreviousUploads().then((previous) => {
    const same = previous.find((p) => p.metadata.path === path);
    if (same) {
      upload.resumeFromPreviousUpload(same);
      resumed = true;
      onProgress({ path, sent: 0, total: file.size, resumed });
    }
    upload.start();
  }).catch(fail);
  return { done, abort: () => void upload.abort() };
}

/** Uploads begun on this browser and not finished (to be resumed by choosing the same file again). */
export async function unfinishedUploads(): Promise<PreviousUpload[]> {
  try {
    return await defaultOptions.urlStorage.findAllUploads();
  } catch {
    return [];
  }
}

/** `/v1/files/<path>` with each segment escaped. */
export function fileUrl(path: string, version?: number): string {
  const p = path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
  return `/v1/files/${p}${version ? `?version=${version}` : ""}`;
}

/** Downloads a file through the HTTP endpoint (a Bearer header, so through fetch and a blob, not a bare link). */
export async function download(client: ColmenaClient, path: string, version?: number): Promise<void> {
  const res = await fetch(fileUrl(path, version), { headers: { Authorization: `Bearer ${await accessToken(client)}` } });
  if (!res.ok) throw new Error(`download failed: HTTP ${res.status}`);
  const blob = await res.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = path.split("/").pop() ?? "file";
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
