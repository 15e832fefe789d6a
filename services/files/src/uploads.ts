/**
 * Resumable uploads that any replica continues: the upload's state lives in
 * the `colmena_files_uploads` KV bucket (its entries expire with the upload),
 * each chunk's bytes in the blob store as a staged part, sealed under the
 * master key. A part's key names its offset, a nonce of its own and its
 * predecessor's nonce (`u/<id>/<offset>.<nonce>.<prev>`), and the state names
 * the last counted part, so the upload's bytes are the chain back from it:
 * a part written by a writer that then lost the race for its offset (or whose
 * checksum failed, or that crashed before counting it) is never part of it,
 * and never replaces the winner's. Bytes count only through one conditional
 * KV update on the revision read (`Append.commit`), so of two replicas taking
 * the same offset one wins and the other answers `conflict`. The commit
 * streams the parts, in order, into the content-addressed blob (the hash
 * computed from those bytes): staging plus the final blob, the bytes written
 * once more than the store finally keeps.
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
  /** The nonce of the last counted part (absent while nothing is). */
  last?: string;
}

/** An upload as read from the KV bucket: its state, the revision to update, and when it expires unless written again. */
export interface UploadEntry {
  state: UploadState;
  revision: number;
  expiresAt: number;
}

const partPrefix = (id: string) => `u/${id}/`;
const FIRST = "-";
const partKey = (id: string, offset: number, nonce: string, prev: string) => `${partPrefix(id)}${String(offset).padStart(16, "0")}.${nonce}.${prev}`;
export const newUploadId = () => `u_${Date.now().toString(36)}-${randomBytes(10).toString("hex")}`;
export const uploadIdTime = (id: string) => parseInt(id.slice(2).split("-")[0], 36);

export class Uploads {
  constructor(private readonly kv: KV, readonly store: BlobStore, readonly master: Buffer, readonly ttlMs: number) {}

  async begin(state: UploadState): Promise<void> {
    await this.kv.create(state.upload_id, JSON.stringify(state));
  }

  /** The caller's upload; another user's is `not_found` like a missing one. */
  async get(user: string, id: string): Promise<UploadEntry> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== "PUT") throw notFound(`no upload ${id}`);
    const state = e.json<UploadState>();
    if (state.user !== user) throw notFound(`no upload ${id}`);
    return { state, revision: e.revision, expiresAt: e.created.getTime() + this.ttlMs };
  }

  /** The upload's bytes after `received`, to stage and then count (`offset` must be `received`). */
  async append(user: string, id: string, offset: number): Promise<Append> {
    const entry = await this.get(user, id);
    if (offset !== entry.state.received) throw conflict(`the upload has ${entry.state.received} bytes, not ${offset}`, { received: entry.state.received });
    return new Append(this.kv, this, entry);
  }

  /** Appends a chunk at `offset`; answers the new `received`. */
  async chunk(user: string, id: string, offset: number, data: Buffer): Promise<number> {
    const append = await this.append(user, id, offset);
    await append.add(data);
    return append.commit();
  }

  /** The upload's bytes, part after part along the chain, each checked as it is opened. */
  async *bytes(state: UploadState): AsyncIterable<Buffer> {
    const prefix = partPrefix(state.upload_id);
    const parts = new Map<string, { key: string; offset: number; prev: string }>();
    for (const key of await this.store.keys(prefix)) {
      const [offset, nonce, prev] = key.slice(prefix.length).split(".");
      if (nonce && prev) parts.set(nonce, { key, offset: Number(offset), prev });
    }
    const chain: { key: string; offset: number }[] = [];
    for (let at = state.last; at && at !== FIRST; at = parts.get(at)?.prev) {
      const part = parts.get(at);
      if (!part) throw new ColmenaError("internal", `upload ${state.upload_id} is missing a staged part`);
      chain.unshift(part);
    }
    let at = 0;
    // The next part is fetched while the caller works on this one: at most two parts in memory.
    const fetchPart = async (key: string) => {
      const body = await this.store.get(key);
      return body ? openSegment(this.master, key, 0, true, await collect(body)) : null;
    };
    let next = chain.length ? fetchPart(chain[0].key) : null;
    next?.catch(() => undefined);
    for (let i = 0; i < chain.length; i++) {
      if (chain[i].offset !== at) throw new ColmenaError("internal", `upload ${state.upload_id} has a staged part at ${chain[i].offset}, not ${at}`);
      const plain = await next!;
      next = i + 1 < chain.length ? fetchPart(chain[i + 1].key) : null;
      next?.catch(() => undefined);
      if (!plain) break;
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
    const keys = await this.store.keys(partPrefix(id));
    // A few deletes at a time: an upload of 512 KiB chunks has thousands of parts.
    const worker = async () => {
      for (let k = keys.pop(); k !== undefined; k = keys.pop()) await this.store.delete(k);
    };
    await Promise.all(Array.from({ length: 8 }, worker));
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

/**
 * Bytes appended to an upload at its `received`: each `add` stages a part in
 * the blob store, and only `commit` counts the staged parts, in one update
 * conditional on the revision read. A writer that loses the race, or
 * `discard`s (a checksum that did not match), deletes its own parts, which
 * no chain names anyway. After a commit more bytes may be added.
 */
export class Append {
  private staged: string[] = [];
  private state: UploadState;
  private revision: number;
  private at: number;
  private last: string | undefined;

  constructor(private readonly kv: KV, private readonly uploads: Uploads, entry: UploadEntry) {
    this.state = entry.state;
    this.revision = entry.revision;
    this.at = entry.state.received;
    this.last = entry.state.last;
  }

  /** Where the next byte goes (counted or staged). */
  get offset(): number {
    return this.at;
  }

  get upload(): UploadState {
    return this.state;
  }

  async add(data: Uint8Array): Promise<void> {
    if (this.at + data.length > this.state.size) throw new ColmenaError("bad_request", `the chunk goes past the upload's size of ${this.state.size} bytes`);
    if (data.length === 0) return;
    const nonce = randomBytes(6).toString("hex");
    const key = partKey(this.state.upload_id, this.at, nonce, this.last ?? FIRST);
    await this.uploads.store.put(key, sealSegment(this.uploads.master, key, 0, true, data));
    this.staged.push(key);
    this.at += data.length;
    this.last = nonce;
  }

  /** Counts what was staged; answers the upload's `received`. */
  async commit(): Promise<number> {
    if (this.staged.length === 0) return this.state.received;
    const next = { ...this.state, received: this.at, last: this.last };
    try {
      this.revision = await this.kv.update(this.state.upload_id, JSON.stringify(next), this.revision);
    } catch (err) {
      // Another replica moved the upload on first (or it expired, or the update's answer was lost): its state says where it is.
      const now = await this.uploads.get(this.state.user, this.state.upload_id).catch(() => null);
      if (now && now.state.last === next.last) {
        this.revision = now.revision;
      } else {
        await this.discard();
        if (!now) throw err instanceof ColmenaError ? err : notFound(`no upload ${this.state.upload_id}`);
        throw conflict(`the upload has ${now.state.received} bytes, not ${this.state.received}`, { received: now.state.received });
      }
    }
    this.state = next;
    this.staged = [];
    return next.received;
  }

  /** Drops what was staged and not counted. */
  async discard(): Promise<void> {
    for (const key of this.staged) await this.uploads.store.delete(key).catch(() => undefined);
    this.staged = [];
    this.at = this.state.received;
    this.last = this.state.last;
  }
}
