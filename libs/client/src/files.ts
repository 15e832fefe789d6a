/**
 * The chunks of a resumable upload (protocol.md section 7,
 * `files.upload.chunk`) sent with a few in flight: a replica takes a chunk
 * that starts where one it is still storing ends, so the next chunks travel
 * while the last is stored. A chunk answered `conflict` (one before it
 * failed, or another replica took it) lets those in flight settle, then the
 * upload goes on from what `files.upload.status` says it has.
 */
import { ColmenaError } from "@colmena/protocol";

export interface UploadChunks {
  uploadId: string;
  size: number;
  /** The upload's `chunk_size`. */
  chunkSize: number;
  /** Where to start (`received` of a resumed upload). */
  from?: number;
  /** The `data` of the chunk at `offset` (bytes for MessagePack, base64 for JSON). */
  read(offset: number, length: number): Promise<Uint8Array | string>;
  /** Chunks sent before the first of them is answered (default 3). */
  inFlight?: number;
  onProgress?(received: number): void;
}

type Requester = { request<T>(op: string, data?: unknown): Promise<T> };

/** Sends the upload's bytes from `from` to `size`; answers `received` (the size). */
export async function sendUploadChunks(client: Requester, u: UploadChunks): Promise<number> {
  const depth = Math.max(1, u.inFlight ?? 3);
  const sent: Promise<{ received: number }>[] = [];
  let received = u.from ?? 0;
  for (let at = received; received < u.size; ) {
    while (sent.length < depth && at < u.size) {
      const n = Math.min(u.chunkSize, u.size - at);
      const reply = client.request<{ received: number }>("files.upload.chunk", { upload_id: u.uploadId, offset: at, data: await u.read(at, n) });
      reply.catch(() => undefined);
      sent.push(reply);
      at += n;
    }
    try {
      received = (await sent.shift()!).received;
    } catch (err) {
      if (!(err instanceof ColmenaError && err.code === "conflict")) throw err;
      await Promise.allSettled(sent.splice(0));
      at = received = (await client.request<{ received: number }>("files.upload.status", { upload_id: u.uploadId })).received;
    }
    u.onProgress?.(received);
  }
  return received;
}
