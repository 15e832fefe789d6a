/**
 * Resumable uploads that any replica continues: the upload's state lives in
 * the `colmena_files_uploads` KV bucket (its entries expire with the upload),
 * each chunk's bytes in the blob store as a staged part `u/<id>/<offset>`,
 * sealed under the master key. A chunk lands only at `offset == received`,
 * and the KV update is conditional on the revision read, so of two replicas
 * taking the same offset one wins and the other answers `conflict`. The
 * commit streams the parts, in order, into the content-addressed blob (the
 * hash computed from those bytes): staging plus the final blob, the bytes
 * written once more than the store finally keeps.
 */
import { randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { ColmenaError, conflict, notFound } from "@colmena/protocol";
import type { BlobStore } from "./blob-store.ts";
import { collect } from "./blob-store.ts";
import { openSegment, sealSegment } from "./blob-crypto.ts";

export interface UploadState {
  upload_id: string;
  user: string;
  path: string;
  size: number;
  sha256?: string;
  content_type: string;
  received: number;
  created_at: number;
}

const partPrefix = (id: string) => `u/${id}/`;
const partKey = (id: string, offset: number) => `${partPrefix(id)}${String(offset).padStart(16, "0")}`;
export const newUploadId = () => `u_${Date.now().toString(36)}-${randomBytes(10).toString("hex")}`;
export const uploadIdTime = (id: string) => parseInt(id.slice(2).split("-")[0], 36);

export class Uploads {
  constructor(private readonly kv: KV, private readonly store: BlobStore, private readonly master: Buffer) {}

  async begin(state: UploadState): Promise<void> {
    await this.kv.create(state.upload_id, JSON.stringify(state));
  }

  /** The caller's upload; another user's is `not_found` like a missing one. */
  async get(user: string, id: string): Promise<{ state: UploadState; revision: number }> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== "PUT") throw notFound(`no upload ${id}`);
    const state = e.json<UploadState>();
    if (state.user !== user) throw notFound(`no upload ${id}`);
    return { state, revision: e.revision };
  }

  /** Appends a chunk at `offset`; answers the new `received`. */
  async chunk(user: string, id: string, offset: number, data: Buffer): Promise<number> {
    const { state, revision } = await this.get(user, id);
    if (offset !== state.received) throw conflict(`the upload has ${state.received} bytes, not ${offset}`, { received: state.received });
    if (state.received + data.length > state.size) throw new ColmenaError("bad_request", `the chunk goes past the upload's size of ${state.size} bytes`);
    if (data.length === 0) return state.received;
    const key = partKey(id, offset);
    await this.store.put(key, sealSegment(this.master, key, 0, true, data));
    try {
      await this.kv.update(id, JSON.stringify({ ...state, received: offset + data.length }), revision);
    } catch {
      // Another replica moved the upload on first (or it expired): its state says where it is.
      const now = await this.get(user, id);
      throw conflict(`the upload has ${now.state.received} bytes, not ${offset}`, { received: now.state.received });
    }
    return offset + data.length;
  }

  /** The upload's bytes, part after part, each checked as it is opened. */
  async *bytes(state: UploadState): AsyncIterable<Buffer> {
    const keys = (await this.store.keys(partPrefix(state.upload_id))).sort();
    let at = 0;
    for (const key of keys) {
      const offset = Number(key.slice(partPrefix(state.upload_id).length));
      // Parts past `received` are chunks whose KV update lost a race: never part of the upload.
      if (offset !== at || at >= state.received) continue;
      const body = await this.store.get(key);
      if (!body) break;
      const plain = openSegment(this.master, key, 0, true, await collect(body));
      at += plain.length;
      yield plain;
    }
    if (at !== state.received) throw new ColmenaError("internal", `upload ${state.upload_id} is missing staged bytes (${at} of ${state.received})`);
  }

  /** Forgets an upload and its staged parts. */
  async remove(id: string): Promise<void> {
    await this.kv.purge(id).catch(() => undefined);
    await this.dropParts(id);
  }

  async dropParts(id: string): Promise<void> {
    for (const k of await this.store.keys(partPrefix(id))) await this.store.delete(k);
  }

  /** Removes the staged parts of uploads whose state expired (or was never written), older than `graceMs`. */
  async sweep(graceMs: number, now = Date.now()): Promise<number> {
    const ids = [...new Set((await this.store.keys("u/")).map((k) => k.split("/")[1]))];
    let n = 0;
    for (const id of ids) {
      if (now - uploadIdTime(id) < graceMs) continue;
      const e = await this.kv.get(id);
      if (e && e.operation === "PUT") continue;
      await this.dropParts(id);
      n++;
    }
    return n;
  }
}
