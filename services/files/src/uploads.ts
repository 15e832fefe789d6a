/**
 * Resumable uploads that any replica continues: the upload's state lives in
 * the `colmena_files_uploads` KV bucket (its entries expire with the
 * upload), its bytes in the blob store, already in their final form: each
 * chunk is sealed, as it arrives, under the upload's own data key in the
 * segments of the blob it will become (blob-crypto.ts, bound to the upload id
 * and each segment's offset) and stored as a part `u/<id>/<offset>.<nonce>`.
 * The state lists the counted parts, so the commit only names them in the
 * blob's manifest (blobs.ts `adopt`): the bytes are written once, where they
 * stay (dropped instead when the content is stored already).
 *
 * Bytes count only through one conditional KV update on the revision read
 * (`Append.commit`), so of two replicas taking the same offset one wins and
 * the other answers `conflict`; a part written by a writer that then lost
 * the race (or whose checksum failed, or that crashed before counting it)
 * has a nonce of its own, is in no state's list and never replaces the
 * winner's. The content's SHA-256 grows as the chunks are counted
 * (upload-hashes.ts); the commit reads back only what this replica did not see.
 */
import { randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { ColmenaError, badRequest, conflict, notFound } from "@colmena/protocol";
import type { BlobStore } from "./blob-store.ts";
import { SEGMENT, unwrapKey, wrapKey } from "./blob-crypto.ts";
import { Layout } from "./blob-manifest.ts";
import { PartWriter, deleteAll, readLayout } from "./blobs.ts";
import { UploadHashes } from "./upload-hashes.ts";

export interface UploadState {
  upload_id: string;
  user: string;
  path: string;
  size: number;
  sha256?: string;
  content_type: string;
  received: number;
  created_at: number;
  /** The upload's data key, wrapped by the master key (bound to the upload id); the blob keeps it. */
  key: string;
  /** The counted parts, in order: [name under `u/<id>/`, plaintext bytes]. */
  parts: [string, number][];
}

/** What begins an upload (the service adds its key and parts). */
export type NewUpload = Omit<UploadState, "key" | "parts" | "received">;

/** An upload as read from the KV bucket: its state, the revision to update, and when it expires unless written again. */
export interface UploadEntry {
  state: UploadState;
  revision: number;
  expiresAt: number;
}

/** The most parts an upload may have: its state (one KV value) lists them all. */
export const MAX_PARTS = 16_384;

interface Storing {
  user: string;
  end: number;
  /** The chunk's Append once its part is staged (undefined if it failed first). */
  added: Promise<Append | undefined>;
}

export const partBase = (id: string) => `u/${id}/`;
const keyBinding = (id: string) => `upload:${id}`;
export const newUploadId = () => `u_${Date.now().toString(36)}-${randomBytes(10).toString("hex")}`;
export const uploadIdTime = (id: string) => parseInt(id.slice(2).split("-")[0], 36);

/** How many uploads' last states a replica keeps (LRU), so the next chunk it takes skips the KV read. */
const RECENT = 256;

export class Uploads {
  readonly hashes = new UploadHashes();
  /**
   * The state and revision this replica last wrote, per upload: a chunk
   * arriving at exactly that state's `received` goes on from it without
   * reading the KV entry again. A stale one (another replica moved the upload
   * on, it was committed, aborted or expired) fails the conditional update,
   * which then reads the entry and answers as before, so correctness never
   * rests on it.
   */
  private readonly recent = new Map<string, UploadEntry>();
  /** Per upload, the last chunk this replica took and is storing: whose, where it ends, and its Append once its part is staged. */
  private readonly storing = new Map<string, Storing>();

  constructor(private readonly kv: KV, readonly store: BlobStore, readonly master: Buffer, readonly ttlMs: number) {}

  async begin(u: NewUpload): Promise<UploadState> {
    const state: UploadState = { ...u, received: 0, key: wrapKey(this.master, randomBytes(32), keyBinding(u.upload_id)), parts: [] };
    await this.kv.create(state.upload_id, JSON.stringify(state));
    return state;
  }

  /** The caller's upload; another user's is `not_found` like a missing one. */
  async get(user: string, id: string): Promise<UploadEntry> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== "PUT") throw notFound(`no upload ${id}`);
    const state = e.json<UploadState>();
    if (state.user !== user) throw notFound(`no upload ${id}`);
    return { state, revision: e.revision, expiresAt: e.created.getTime() + this.ttlMs };
  }

  /** The upload's data key. */
  dataKey(state: UploadState): Buffer {
    return unwrapKey(this.master, state.key, keyBinding(state.upload_id));
  }

  /** The upload's bytes after `received`, to stage and then count (`offset` must be `received`). */
  async append(user: string, id: string, offset: number): Promise<Append> {
    const kept = this.recent.get(id);
    const entry = kept && kept.state.user === user && kept.state.received === offset ? kept : await this.get(user, id);
    if (offset !== entry.state.received) throw conflict(`the upload has ${entry.state.received} bytes, not ${offset}`, { received: entry.state.received });
    return new Append(this.kv, this, entry);
  }

  /**
   * Appends a chunk at `offset`; answers the new `received`. A chunk that
   * starts where a chunk of the same upload still being stored on this
   * replica ends (a client keeping several in flight) goes on from that one:
   * it is sealed and stored once that one's part is stored, while that one is
   * counted, and counted after it. Should that one fail, it answers
   * `conflict` as any chunk at the wrong offset does.
   */
  async chunk(user: string, id: string, offset: number, data: Buffer): Promise<number> {
    const before = this.storing.get(id);
    const follows = before && before.user === user && before.end === offset ? before.added : undefined;
    let added: (a: Append | undefined) => void = () => undefined;
    const mine: Storing = { user, end: offset + data.length, added: new Promise((resolve) => (added = resolve)) };
    this.storing.set(id, mine);
    try {
      let append = follows ? await follows : undefined;
      if (!append || append.offset !== offset) append = await this.append(user, id, offset);
      const part = await append.add(data);
      added(append);
      return await append.commit(part);
    } finally {
      added(undefined);
      if (this.storing.get(id) === mine) this.storing.delete(id);
    }
  }

  /** The SHA-256 of the counted bytes: from this replica's running hash, reading back only the parts it did not see. */
  async sha256(state: UploadState): Promise<string> {
    const { hash, parts } = this.hashes.prefix(state);
    if (parts < state.parts.length) {
      const layout = this.layout(state);
      for await (const plain of readLayout(this.store, layout, layout.starts[parts], state.received, `upload ${state.upload_id}`)) hash.update(plain);
    }
    return hash.digest("hex");
  }

  /** The counted parts as a blob layout (the blob is bound to the upload id). */
  layout(state: UploadState): Layout {
    const m = { v: 2 as const, blob: state.upload_id, sha256: "", size: state.size, segment: SEGMENT, base: partBase(state.upload_id), parts: state.parts, key: "", created_at: state.created_at };
    return new Layout(m, this.dataKey(state));
  }

  /** Keeps the state this replica just wrote (`Append`), for the next chunk. */
  remember(entry: UploadEntry): void {
    this.recent.delete(entry.state.upload_id);
    this.recent.set(entry.state.upload_id, entry);
    if (this.recent.size > RECENT) this.recent.delete(this.recent.keys().next().value!);
  }

  /** Forgets an upload whose parts became a blob. */
  async forget(id: string): Promise<void> {
    this.hashes.forget(id);
    this.recent.delete(id);
    await this.kv.purge(id).catch(() => undefined);
  }

  /** Forgets an upload and drops its parts. */
  async remove(state: UploadState): Promise<void> {
    await this.forget(state.upload_id);
    await deleteAll(this.store, state.parts.map(([name]) => partBase(state.upload_id) + name));
  }

  /**
   * Removes the parts of uploads whose state is gone (expired, never written,
   * or committed as a duplicate) and that no manifest names, older than
   * `graceMs`. `named` lists the blob ids manifests name; it is asked again
   * after the states were found gone, since a commit names its parts before
   * it forgets its state.
   */
  async sweep(graceMs: number, named: () => Promise<Set<string>>, now = Date.now()): Promise<number> {
    const keys = await this.store.keys("u/");
    const ids = [...new Set(keys.map((k) => k.split("/")[1]))].filter((id) => !(now - uploadIdTime(id) < graceMs));
    const gone: string[] = [];
    for (const id of ids) {
      const e = await this.kv.get(id);
      if (!e || e.operation !== "PUT") gone.push(id);
    }
    if (gone.length === 0) return 0;
    const kept = await named();
    let n = 0;
    for (const id of gone) {
      if (kept.has(id)) continue;
      await deleteAll(this.store, keys.filter((k) => k.startsWith(partBase(id))));
      n++;
    }
    return n;
  }
}

/**
 * Bytes appended to an upload at its `received`: each `add` seals a part and
 * stores it (the next one is sealed while the last is stored), and only a
 * count (`commit`, `countStored`) makes stored parts the upload's, in one
 * update conditional on the revision read. A writer that loses the race, or
 * `discard`s (a checksum that did not match), deletes its own parts, which
 * no state lists anyway. After a count more bytes may be added.
 */
/** A part `add` staged: its name and the upload's offset after it. */
export interface StagedPart {
  name: string;
  end: number;
}

export class Append {
  /** Parts stored (the last one maybe still being stored) and not yet counted. */
  private staged: [string, number][] = [];
  private state: UploadState;
  private revision: number;
  private at: number;
  private readonly writer: PartWriter;
  private hash;
  /** The last count asked for: the next one runs after it (each updates the revision the next one is conditional on). */
  private counting: Promise<unknown> = Promise.resolve();

  constructor(private readonly kv: KV, private readonly uploads: Uploads, entry: UploadEntry) {
    this.state = entry.state;
    this.revision = entry.revision;
    this.at = entry.state.received;
    this.writer = new PartWriter(uploads.store, uploads.dataKey(entry.state), entry.state.upload_id);
    this.hash = uploads.hashes.whole(entry.state);
  }

  /** Where the next byte goes (counted or staged). */
  get offset(): number {
    return this.at;
  }

  get upload(): UploadState {
    return this.state;
  }

  /** Seals and starts storing `data` at `offset` (after the part before is stored); answers its part (none for no bytes). */
  async add(data: Uint8Array): Promise<StagedPart | undefined> {
    const { size, upload_id } = this.state;
    if (this.at + data.length > size) throw new ColmenaError("bad_request", `the chunk goes past the upload's size of ${size} bytes`);
    if (data.length === 0) return undefined;
    if (this.state.parts.length + this.staged.length >= MAX_PARTS) throw badRequest(`an upload has at most ${MAX_PARTS} chunks: send larger ones`);
    const name = `${this.at.toString(36)}.${randomBytes(4).toString("hex")}`;
    this.staged.push([name, data.length]);
    await this.writer.put(partBase(upload_id) + name, this.at, data, this.at + data.length === size);
    this.hash?.update(data);
    this.at += data.length;
    return { name, end: this.at };
  }

  /**
   * Counts the parts added once stored (with `through`, only up to that
   * part: a chunk added after it may still be storing); answers the upload's
   * `received`. Counts run one after another, in the order they were asked.
   */
  async commit(through?: StagedPart): Promise<number> {
    try {
      await this.writer.drain();
    } catch (err) {
      await this.discard();
      throw err;
    }
    return this.serial(() => {
      if (!through) return this.count(this.staged.length);
      const n = this.staged.findIndex(([name]) => name === through.name) + 1;
      if (n > 0) return this.count(n);
      // Counted already (by a count through a later part), or dropped with a failed chunk before it.
      if (this.state.received >= through.end) return Promise.resolve(this.state.received);
      throw conflict(`the upload has ${this.state.received} bytes, not ${through.end}`, { received: this.state.received });
    });
  }

  /** Counts the parts added before the last (already stored), leaving the last one's store under way. */
  async countStored(): Promise<number> {
    return this.serial(() => this.count(this.staged.length - 1));
  }

  private serial(f: () => Promise<number>): Promise<number> {
    const run = this.counting.then(f);
    this.counting = run.catch(() => undefined);
    return run;
  }

  private async count(n: number): Promise<number> {
    if (n <= 0) return this.state.received;
    const counted = this.staged.slice(0, n);
    const received = this.state.received + counted.reduce((s, [, len]) => s + len, 0);
    const next: UploadState = { ...this.state, received, parts: [...this.state.parts, ...counted] };
    try {
      this.revision = await this.kv.update(this.state.upload_id, JSON.stringify(next), this.revision);
    } catch (err) {
      // Another replica moved the upload on first (or it expired, or the update's answer was lost): its state says where it is.
      const now = await this.uploads.get(this.state.user, this.state.upload_id).catch(() => null);
      const last = counted[counted.length - 1][0];
      if (now && now.state.parts[now.state.parts.length - 1]?.[0] === last) {
        this.revision = now.revision;
      } else {
        await this.discard();
        if (!now) throw err instanceof ColmenaError ? err : notFound(`no upload ${this.state.upload_id}`);
        throw conflict(`the upload has ${now.state.received} bytes, not ${this.state.received}`, { received: now.state.received });
      }
    }
    this.state = next;
    this.staged = this.staged.slice(n);
    this.uploads.remember({ state: next, revision: this.revision, expiresAt: Date.now() + this.uploads.ttlMs });
    // The hash covers the counted bytes only once nothing more is staged.
    if (this.hash && this.staged.length === 0) this.uploads.hashes.keep(next, this.hash);
    return received;
  }

  /** Drops what was staged and not counted. */
  async discard(): Promise<void> {
    await this.writer.drain().catch(() => undefined);
    await deleteAll(this.uploads.store, this.staged.map(([name]) => partBase(this.state.upload_id) + name)).catch(() => undefined);
    this.staged = [];
    this.at = this.state.received;
    this.hash = this.uploads.hashes.whole(this.state);
  }
}
