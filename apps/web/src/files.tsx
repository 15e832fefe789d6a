/** The files screen (protocol.md section 7): folders, versions, delete, share links, drag-and-drop tus upload with progress, downloads. */
import { useEffect, useState } from "preact/hooks";
import { bytes, time, useAction, useClient } from "./hooks.ts";
import { Folder } from "./icons.tsx";
import { download, startUpload, unfinishedUploads, type UploadProgress } from "./upload.ts";

interface FileRow { path: string; version: number; size: number; sha256: string; updated_at: number }
interface Version { version: number; size: number; sha256: string; created_at: number; deleted: boolean }

export function Files() {
  const client = useClient();
  const [prefix, setPrefix] = useState("");
  const [files, setFiles] = useState<FileRow[]>([]);
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [pending, setPending] = useState<string[]>([]);
  const [drag, setDrag] = useState(false);
  const { error, run } = useAction();

  const load = () => run(async () => {
    const all: FileRow[] = [];
    let cursor: string | undefined;
    do {
      const r = await client.request<{ files: FileRow[]; next?: string }>("files.list", { ...(prefix ? { prefix } : {}), limit: 500, ...(cursor ? { cursor } : {}) });
      all.push(...r.files);
      cursor = r.next;
    } while (cursor && all.length < 5_000);
    setFiles(all);
    setPending((await unfinishedUploads()).map((u) => u.metadata.path ?? u.metadata.filename ?? "?"));
  });
  useEffect(() => { void load(); }, [prefix]);

  const upload = (list: FileList | null) => {
    if (!list) return;
    void run(async () => {
      for (const file of Array.from(list)) {
        const path = prefix + file.name;
        setProgress({ path, sent: 0, total: file.size });
        await startUpload(client, file, path, setProgress).done;
      }
      setProgress(null);
      await load();
    });
  };

  const { folders, here } = split(files, prefix);
  const crumbs = prefix.split("/").filter(Boolean);
  return (
    <div class="stack">
      <section class={drag ? "card drop over" : "card drop"} aria-label="Upload"
        onDragOver={(e) => { e.preventDefault(); setDrag(true); }} onDragLeave={() => setDrag(false)}
        onDrop={(e) => { e.preventDefault(); setDrag(false); upload(e.dataTransfer?.files ?? null); }}>
        <h2>Upload</h2>
        <p class="muted">Drop files here, or choose them; an interrupted upload goes on when you choose the same file again.</p>
        <input type="file" multiple aria-label="Choose files to upload" onChange={(e) => upload(e.currentTarget.files)} />
        {progress && (
          <div role="status">
            <progress max={progress.total || 1} value={progress.sent} aria-label={`upload of ${progress.path}`} />
            <span> {progress.path}: {bytes(progress.sent)} of {bytes(progress.total)}{progress.resumed ? " (resuming an earlier upload)" : ""}</span>
          </div>
        )}
        {pending.length > 0 && <p class="muted">Unfinished: {pending.join(", ")}</p>}
      </section>
      <section class="card" aria-label="Files">
        <nav class="crumbs" aria-label="Folder">
          <button type="button" onClick={() => setPrefix("")}>Home</button>
          {crumbs.map((c, i) => <span key={i}> / <button type="button" onClick={() => setPrefix(crumbs.slice(0, i + 1).join("/") + "/")}>{c}</button></span>)}
          <button type="button" class="right" onClick={() => load()}>Refresh</button>
        </nav>
        {error && <p class="error" role="alert">{error}</p>}
        <ul class="list files">
          {folders.map((f) => (
            <li key={f} class="row"><button type="button" class="folder" onClick={() => setPrefix(prefix + f + "/")}><Folder /> {f}/</button></li>
          ))}
          {here.map((f) => <FileItem key={f.path} f={f} name={f.path.slice(prefix.length)} run={run} reload={load} />)}
        </ul>
        {folders.length === 0 && here.length === 0 && <p class="muted">No files here.</p>}
      </section>
    </div>
  );
}

/** The folders and files directly under `prefix`. */
function split(files: FileRow[], prefix: string): { folders: string[]; here: FileRow[] } {
  const folders = new Set<string>();
  const here: FileRow[] = [];
  for (const f of files) {
    const rest = f.path.replace(/^\//, "").slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash >= 0) folders.add(rest.slice(0, slash));
    else here.push(f);
  }
  return { folders: [...folders].sort(), here };
}

type Run = (fn: () => Promise<unknown>) => Promise<void>;

function FileItem({ f, name, run, reload }: { f: FileRow; name: string; run: Run; reload: () => Promise<void> }) {
  const client = useClient();
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [share, setShare] = useState<string>("");
  const [confirming, setConfirming] = useState(false);
  return (
    <li class="file" data-path={f.path}>
      <div class="row wrap">
        <strong class="name">{name}</strong>
        <span class="muted">v{f.version} · {bytes(f.size)} · {time(f.updated_at)}</span>
        <button type="button" onClick={() => run(() => download(client, f.path))}>Download</button>
        <button type="button" onClick={() => run(async () => setVersions(versions ? null : (await client.request<{ versions: Version[] }>("files.versions", { path: f.path })).versions))}>Versions</button>
        <button type="button" onClick={() => run(async () => {
          const r = await client.request<{ url: string; expires_at: number }>("files.share", { path: f.path });
          setShare(new URL(r.url, location.href).href);
        })}>Share</button>
        {confirming
          ? <button type="button" class="danger" onClick={() => run(async () => { await client.request("files.delete", { path: f.path }); await reload(); })}>Confirm delete</button>
          : <button type="button" onClick={() => setConfirming(true)}>Delete</button>}
      </div>
      {share && <p class="share">Share link (1 h): <a href={share} target="_blank" rel="noreferrer" data-testid="share-link">{share}</a></p>}
      {versions && (
        <ol class="versions">
          {versions.map((v) => (
            <li key={v.version}>
              v{v.version} · {v.deleted ? "deleted" : bytes(v.size)} · {time(v.created_at)}
              {!v.deleted && <button type="button" onClick={() => run(() => download(client, f.path, v.version))}>Download</button>}
            </li>
          ))}
        </ol>
      )}
    </li>
  );
}
