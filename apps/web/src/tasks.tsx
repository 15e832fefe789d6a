/** The tasks screen (protocol.md section 5): submit any type, watch progress and results live, the list with a status filter. */
import { useEffect, useRef, useState } from "preact/hooks";
import { time, useAction, useClient, useEvent } from "./hooks.ts";

interface Task { task_id: string; type: string; status: string; input: unknown; result?: unknown; error?: unknown; worker?: string; attempts?: number; created_at?: number; progress?: number }

const TYPES = [
  { type: "uppercase", label: "uppercase (1, mayus, upper)" },
  { type: "reverse", label: "reverse (2, invertir, reversa)" },
  { type: "word_count", label: "word_count (3, contar, palabras)" },
  { type: "sleep", label: "sleep (4, espera, delay): seconds" },
];
const STATUSES = ["", "queued", "running", "done", "failed", "cancelled"];

export function Tasks() {
  const client = useClient();
  const [tasks, setTasks] = useState<Task[]>([]);
  const [next, setNext] = useState<number | undefined>();
  const [status, setStatus] = useState("");
  const [type, setType] = useState("uppercase");
  const [input, setInput] = useState("");
  const [priority, setPriority] = useState("normal");
  const { error, busy, run } = useAction();

  // Events may beat the row: a quick task is done before tasks.get answers. What they said is kept and laid over the row when it comes.
  const early = useRef(new Map<string, Partial<Task>>());
  const patch = (id: string, p: Partial<Task>) => {
    early.current.set(id, { ...early.current.get(id), ...p });
    setTasks((ts) => ts.map((t) => (t.task_id === id ? { ...t, ...p } : t)));
  };
  useEvent("task.progress", (d: { task_id: string; progress: number }) => patch(d.task_id, { progress: d.progress, status: "running" }));
  useEvent("task.done", (d: { task_id: string; result: unknown; worker: string }) => patch(d.task_id, { status: "done", result: d.result, worker: d.worker, progress: 1 }));
  useEvent("task.failed", (d: { task_id: string; error: unknown }) => patch(d.task_id, { status: "failed", error: d.error }));

  const load = (more = false) => run(async () => {
    const r = await client.request<{ tasks: Task[]; next?: number }>("tasks.list", { ...(status ? { status } : {}), limit: 20, ...(more && next ? { before: next } : {}) });
    setTasks((ts) => (more ? [...ts, ...r.tasks] : r.tasks));
    setNext(r.next);
  });
  useEffect(() => { void load(); }, [status]);

  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const value = type === "sleep" ? Number(input) : input;
      const r = await client.request<{ task_id: string; status: string }>("tasks.submit", { type, input: value, priority });
      const t = await client.request<Task>("tasks.get", { task_id: r.task_id }).catch(() => ({ task_id: r.task_id, type, status: r.status, input: value }));
      const seen = early.current.get(t.task_id);
      const row = seen && t.status !== "done" && t.status !== "failed" ? { ...t, ...seen } : t;
      setTasks((ts) => [row, ...ts.filter((x) => x.task_id !== t.task_id)]);
      setInput("");
    });
  };

  return (
    <div class="stack">
      <form class="card" onSubmit={submit} aria-label="Submit a task">
        <h2>Submit a task</h2>
        <label>Type
          <select value={type} onChange={(e) => setType(e.currentTarget.value)}>
            {TYPES.map((t) => <option key={t.type} value={t.type}>{t.label}</option>)}
          </select>
        </label>
        <label>Input
          {type === "sleep"
            ? <input type="number" min={0} max={60} step="any" required value={input} onInput={(e) => setInput(e.currentTarget.value)} />
            : <textarea required rows={2} value={input} onInput={(e) => setInput(e.currentTarget.value)} />}
        </label>
        <label>Priority
          <select value={priority} onChange={(e) => setPriority(e.currentTarget.value)}>
            <option value="high">high</option><option value="normal">normal</option><option value="low">low</option>
          </select>
        </label>
        <button type="submit" class="primary" disabled={busy}>Submit</button>
      </form>
      <section class="card" aria-label="Tasks">
        <div class="row">
          <h2>Tasks</h2>
          <label>Status
            <select value={status} onChange={(e) => setStatus(e.currentTarget.value)} aria-label="Filter by status">
              {STATUSES.map((s) => <option key={s} value={s}>{s || "all"}</option>)}
            </select>
          </label>
          <button type="button" onClick={() => load()}>Refresh</button>
        </div>
        {error && <p class="error" role="alert">{error}</p>}
        <ul class="list tasks">
          {tasks.map((t) => <TaskRow key={t.task_id} t={t} onCancel={() => run(async () => { const r = await client.request<{ status: string }>("tasks.cancel", { task_id: t.task_id }); patch(t.task_id, { status: r.status }); })} />)}
        </ul>
        {tasks.length === 0 && <p class="muted">No tasks yet.</p>}
        {next && <button type="button" onClick={() => load(true)}>More</button>}
      </section>
    </div>
  );
}

function TaskRow({ t, onCancel }: { t: Task; onCancel: () => void }) {
  const pct = Math.round((t.progress ?? (t.status === "done" ? 1 : 0)) * 100);
  return (
    <li class={`task ${t.status}`} data-task={t.task_id}>
      <div class="row">
        <strong>{t.type}</strong>
        <span class={`pill ${t.status}`} data-testid="task-status">{t.status}</span>
        {t.created_at && <span class="muted">{time(t.created_at)}</span>}
        {(t.status === "queued" || t.status === "running") && <button type="button" onClick={onCancel}>Cancel</button>}
      </div>
      <div class="muted">input: {JSON.stringify(t.input)}</div>
      {(t.status === "running" || t.status === "queued") && (
        <progress max={100} value={pct} aria-label={`progress of ${t.task_id}`}>{pct}%</progress>
      )}
      {t.status === "done" && <div data-testid="task-result">result: <code>{JSON.stringify(t.result)}</code>{t.worker && <span class="muted"> by {t.worker}</span>}</div>}
      {t.status === "failed" && <div class="error">error: {JSON.stringify(t.error)}</div>}
    </li>
  );
}
