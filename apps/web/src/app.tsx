/**
 * The page: connect, then the login screen or the signed-in shell with its
 * four screens (the tab is kept in the URL's hash, so a reload stays on it).
 */
import { useEffect, useState } from "preact/hooks";
import type { ColmenaClient } from "@colmena/client/browser";
import { connect, errorText, resume } from "./connection.ts";
import { ClientContext, useAction, useClient } from "./hooks.ts";
import { Auth } from "./auth.tsx";
import { Chat } from "./chat.tsx";
import { Tasks } from "./tasks.tsx";
import { Notifications } from "./notify.tsx";
import { Files } from "./files.tsx";

const TABS = [
  { id: "chat", label: "Chat", view: Chat },
  { id: "tasks", label: "Tasks", view: Tasks },
  { id: "notifications", label: "Notifications", view: Notifications },
  { id: "files", label: "Files", view: Files },
] as const;
type TabId = (typeof TABS)[number]["id"];

function tabOfHash(): TabId {
  const h = location.hash.slice(1);
  return (TABS.find((t) => t.id === h)?.id ?? "chat") as TabId;
}

export function App() {
  const [client, setClient] = useState<ColmenaClient | null>(null);
  const [user, setUser] = useState<string | null>(null);
  const [note, setNote] = useState("Connecting ...");
  const [online, setOnline] = useState(true);

  useEffect(() => {
    let c: ColmenaClient | undefined;
    void (async () => {
      c = await connect(setNote);
      c.onSession((s) => setUser(s?.username ?? null));
      c.onStatus((s) => {
        if (s.type === "disconnected") setOnline(false);
        if (s.type === "reconnected") setOnline(true);
      });
      setNote("Signing in ...");
      await resume(c);
      setUser(c.session?.username ?? null);
      setClient(c);
    })().catch((err) => setNote(errorText(err)));
    return () => c?.close();
  }, []);

  if (!client) return <main class="center"><p role="status">{note}</p></main>;
  return (
    <ClientContext.Provider value={client}>
      {user ? <Shell user={user} online={online} /> : <Auth />}
    </ClientContext.Provider>
  );
}

function Shell({ user, online }: { user: string; online: boolean }) {
  const [tab, setTab] = useState<TabId>(tabOfHash);
  const { error, run } = useAction();
  const client = useClient();
  useEffect(() => {
    const onHash = () => setTab(tabOfHash());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  const View = TABS.find((t) => t.id === tab)!.view;
  return (
    <div class="shell">
      <header>
        <h1>Colmena</h1>
        <span class={online ? "status ok" : "status off"} role="status">{online ? "online" : "reconnecting ..."}</span>
        <span class="me" data-testid="me">{user}</span>
        <button type="button" onClick={() => run(() => client.logout())}>Log out</button>
      </header>
      <nav role="tablist" aria-label="Screens">
        {TABS.map((t) => (
          <a key={t.id} role="tab" href={`#${t.id}`} aria-selected={t.id === tab} class={t.id === tab ? "tab active" : "tab"}>{t.label}</a>
        ))}
      </nav>
      {error && <p class="error" role="alert">{error}</p>}
      <main role="tabpanel" aria-label={tab}>
        <View />
      </main>
    </div>
  );
}
