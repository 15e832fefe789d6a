/** The notifications screen (protocol.md section 8): subscriptions, the inbox with read state, live `notify.event`, and publishing. */
import { useEffect, useState } from "preact/hooks";
import { time, useAction, useClient, useEvent } from "./hooks.ts";

interface Notification { notification_id: string; topic: string; title: string; body?: string; data?: unknown; ts: number; read: boolean }
interface Subscription { topic: string; channels: string[]; email?: string; created_at: number }

export function Notifications() {
  const client = useClient();
  const [inbox, setInbox] = useState<Notification[]>([]);
  const [subs, setSubs] = useState<Subscription[]>([]);
  const [unreadOnly, setUnreadOnly] = useState(false);
  const { error, run } = useAction();

  const load = () => run(async () => {
    const [i, s] = await Promise.all([
      client.request<{ notifications: Notification[] }>("notify.inbox", { limit: 200, ...(unreadOnly ? { unread_only: true } : {}) }),
      client.request<{ subscriptions: Subscription[] }>("notify.subscriptions"),
    ]);
    setInbox(i.notifications.slice().reverse()); // the inbox comes oldest first
    setSubs(s.subscriptions);
  });
  useEffect(() => { void load(); }, [unreadOnly]);
  useEvent("notify.event", (n: Notification) => setInbox((xs) => [n, ...xs.filter((x) => x.notification_id !== n.notification_id)]));

  const markRead = (ids: string[]) => run(async () => {
    if (ids.length === 0) return;
    await client.request("notify.read", { notification_ids: ids });
    setInbox((xs) => xs.map((x) => (ids.includes(x.notification_id) ? { ...x, read: true } : x)));
  });
  const unread = inbox.filter((n) => !n.read);

  return (
    <div class="stack">
      <Subscriptions subs={subs} run={run} reload={load} />
      <section class="card" aria-label="Inbox">
        <div class="row">
          <h2>Inbox {unread.length > 0 && <span class="badge">{unread.length}</span>}</h2>
          <label class="check"><input type="checkbox" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.currentTarget.checked)} /> Unread only</label>
          <button type="button" onClick={() => markRead(unread.map((n) => n.notification_id))} disabled={unread.length === 0}>Mark all read</button>
        </div>
        {error && <p class="error" role="alert">{error}</p>}
        <ul class="list" aria-live="polite">
          {inbox.map((n) => (
            <li key={n.notification_id} class={n.read ? "note read" : "note unread"} data-notification={n.notification_id}>
              <div class="row">
                <strong>{n.title}</strong>
                <span class="muted">{n.topic} · {time(n.ts)}</span>
                {!n.read && <button type="button" onClick={() => markRead([n.notification_id])}>Mark read</button>}
              </div>
              {n.body && <p>{n.body}</p>}
            </li>
          ))}
        </ul>
        {inbox.length === 0 && <p class="muted">Nothing yet.</p>}
      </section>
      <Publish run={run} />
    </div>
  );
}

type Run = (fn: () => Promise<unknown>) => Promise<void>;

function Subscriptions({ subs, run, reload }: { subs: Subscription[]; run: Run; reload: () => Promise<void> }) {
  const client = useClient();
  const [topic, setTopic] = useState("");
  const [email, setEmail] = useState("");
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const channels = email ? ["push", "email"] : ["push"];
      await client.request("notify.subscribe", { topic: topic.trim(), channels, ...(email ? { email } : {}) });
      setTopic(""); setEmail("");
      await reload();
    });
  };
  return (
    <section class="card" aria-label="Subscriptions">
      <h2>Subscriptions</h2>
      <ul class="list">
        {subs.map((s) => (
          <li key={s.topic} class="row" data-topic={s.topic}>
            <code>{s.topic}</code><span class="muted">{s.channels.join(", ")}{s.email ? ` (${s.email})` : ""}</span>
            <button type="button" onClick={() => run(async () => { await client.request("notify.unsubscribe", { topic: s.topic }); await reload(); })}>Unsubscribe</button>
          </li>
        ))}
      </ul>
      <form class="row wrap" onSubmit={submit} aria-label="Subscribe">
        <label>Topic <input required placeholder="news.* or tasks.>" value={topic} onInput={(e) => setTopic(e.currentTarget.value)} /></label>
        <label>Email (optional) <input type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} /></label>
        <button type="submit">Subscribe</button>
      </form>
    </section>
  );
}

function Publish({ run }: { run: Run }) {
  const client = useClient();
  const [topic, setTopic] = useState("");
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [note, setNote] = useState("");
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const r = await client.request<{ recipients: number }>("notify.publish", { topic: topic.trim(), title, ...(body ? { body } : {}) });
      setNote(`Published to ${r.recipients} recipient${r.recipients === 1 ? "" : "s"}.`);
      setTitle(""); setBody("");
    });
  };
  return (
    <form class="card" onSubmit={submit} aria-label="Publish">
      <h2>Publish</h2>
      <label>Topic <input required value={topic} onInput={(e) => setTopic(e.currentTarget.value)} /></label>
      <label>Title <input required value={title} onInput={(e) => setTitle(e.currentTarget.value)} /></label>
      <label>Body <textarea rows={2} value={body} onInput={(e) => setBody(e.currentTarget.value)} /></label>
      <button type="submit">Publish</button>
      {note && <p role="status">{note}</p>}
    </form>
  );
}
