/** The chat screen: rooms with unread counts, one room's messages, and the forms to send, create a room and write a DM. */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ChatStore, type Msg } from "./chat-store.ts";
import { loadChatKeys } from "./keys.ts";
import { time, useAction, useClient, useTicker } from "./hooks.ts";
import { Lock } from "./icons.tsx";

export function Chat() {
  const client = useClient();
  const me = client.session!.username;
  const [, setVersion] = useState(0);
  const store = useMemo(() => new ChatStore(client, me, () => setVersion((v) => v + 1)), [client, me]);
  const { error, run } = useAction();
  useEffect(() => {
    const detach = store.attach();
    store.keys = loadChatKeys(client, me).catch(() => null);
    void run(() => store.open(store.active));
    return detach;
  }, [store]);
  useTicker(1_000, store.typers(store.active).length > 0);

  return (
    <div class="chat">
      <aside class="rooms" aria-label="Rooms">
        <ul>
          {store.rooms.map((r) => (
            <li key={r.room}>
              <button type="button" class={r.room === store.active ? "room active" : "room"} aria-current={r.room === store.active} data-room={r.room}
                onClick={() => run(() => store.open(r.room))}>
                <span>{r.private ? <Lock title="private" /> : "# "} {roomLabel(r.room, r.title, r.members, me)}</span>
                {store.unread(r.room) > 0 && <span class="badge" aria-label={`${store.unread(r.room)} unread`}>{store.unread(r.room)}</span>}
              </button>
            </li>
          ))}
        </ul>
        <NewRoom store={store} run={run} />
        <NewDm store={store} run={run} />
      </aside>
      <Room store={store} room={store.active} run={run} />
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}

function roomLabel(room: string, title: string, members: string[], me: string): string {
  if (room.startsWith("dm-")) return `@${members.find((m) => m.toLowerCase() !== me.toLowerCase()) ?? me}`;
  return title || room;
}

type Run = (fn: () => Promise<unknown>) => Promise<void>;

function Room({ store, room, run }: { store: ChatStore; room: string; run: Run }) {
  const info = store.info(room);
  const messages = store.messages.get(room) ?? [];
  const [text, setText] = useState("");
  const [encrypt, setEncrypt] = useState(false);
  const canEncrypt = !!info?.private;
  const list = useRef<HTMLOListElement>(null);
  const last = messages.at(-1)?.seq;
  useEffect(() => { list.current?.lastElementChild?.scrollIntoView({ block: "end" }); }, [room, last]);
  const online = [...(store.online.get(room) ?? [])];
  const typers = store.typers(room).filter((u) => u !== store.me);

  const send = (e: Event) => {
    e.preventDefault();
    const body = text.trim();
    if (!body) return;
    void run(async () => {
      await store.send(room, body, canEncrypt && encrypt);
      setText("");
    });
  };

  return (
    <section class="room-view" aria-label={`Room ${room}`}>
      <div class="room-head">
        <h2>{info ? roomLabel(room, info.title, info.members, store.me) : room}</h2>
        <p class="online" aria-label="Online">{online.length} online: {online.join(", ")}</p>
      </div>
      <ol class="messages" ref={list} aria-live="polite">
        {store.hasMore.get(room) && (
          <li class="more"><button type="button" onClick={() => run(() => store.older(room))}>Load older messages</button></li>
        )}
        {messages.map((m) => <Message key={m.seq} m={m} mine={m.from === store.me} state={receipt(store, m)} />)}
      </ol>
      <p class="typing" aria-live="polite">{typers.length ? `${typers.join(", ")} ${typers.length > 1 ? "are" : "is"} typing ...` : " "}</p>
      <form class="composer" onSubmit={send}>
        <input aria-label="Message" placeholder={`Message ${room}`} value={text} maxLength={16_000}
          onInput={(e) => { setText(e.currentTarget.value); store.typingPing(room); }} />
        {canEncrypt && (
          <label class="check" title="End-to-end encrypted for the room's members">
            <input type="checkbox" checked={encrypt} onChange={(e) => setEncrypt(e.currentTarget.checked)} /> Encrypt
          </label>
        )}
        <button type="submit" class="primary">Send</button>
      </form>
    </section>
  );
}

function receipt(store: ChatStore, m: Msg): string {
  if (m.from !== store.me) return "";
  if ((store.read.get(m.room) ?? 0) >= m.seq) return "read";
  if ((store.delivered.get(m.room) ?? 0) >= m.seq) return "delivered";
  return "sent";
}

function Message({ m, mine, state }: { m: Msg; mine: boolean; state: string }) {
  const encrypted = m.ciphertext !== undefined;
  const text = m.body ?? m.text ?? (m.failed ? "(cannot decrypt this message)" : "(decrypting ...)");
  return (
    <li class={mine ? "msg mine" : "msg"} data-seq={m.seq}>
      <span class="from">{m.from}</span>
      <span class="body">{encrypted && <><Lock />{" "}</>}{text}</span>
      <span class="meta"><time dateTime={new Date(m.ts).toISOString()}>{time(m.ts)}</time>{state && <span class={`receipt ${state}`}> {state === "read" ? "✓✓ read" : state === "delivered" ? "✓✓" : "✓"}</span>}</span>
    </li>
  );
}

function NewRoom({ store, run }: { store: ChatStore; run: Run }) {
  const [room, setRoom] = useState("");
  const [title, setTitle] = useState("");
  const [priv, setPriv] = useState(false);
  const [members, setMembers] = useState("");
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await store.create(room.trim(), title.trim(), priv, members.split(/[\s,]+/).filter(Boolean));
      setRoom(""); setTitle(""); setMembers("");
    });
  };
  return (
    <details class="card">
      <summary>New room / join</summary>
      <form onSubmit={submit} aria-label="New room">
        <label>Room <input required pattern="[a-z0-9][a-z0-9_\-]{0,63}" value={room} onInput={(e) => setRoom(e.currentTarget.value)} /></label>
        <label>Title <input value={title} onInput={(e) => setTitle(e.currentTarget.value)} /></label>
        <label class="check"><input type="checkbox" checked={priv} onChange={(e) => setPriv(e.currentTarget.checked)} /> Private</label>
        {priv && <label>Members <input placeholder="ana, luis" value={members} onInput={(e) => setMembers(e.currentTarget.value)} /></label>}
        <div class="row">
          <button type="submit">Create</button>
          <button type="button" onClick={() => run(async () => { await store.open(room.trim()); setRoom(""); })}>Join</button>
        </div>
      </form>
    </details>
  );
}

function NewDm({ store, run }: { store: ChatStore; run: Run }) {
  const [to, setTo] = useState("");
  const [text, setText] = useState("");
  const [encrypt, setEncrypt] = useState(true);
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await store.dm(to.trim(), text.trim(), encrypt);
      setTo(""); setText("");
    });
  };
  return (
    <details class="card">
      <summary>Direct message</summary>
      <form onSubmit={submit} aria-label="Direct message">
        <label>To <input required value={to} onInput={(e) => setTo(e.currentTarget.value)} /></label>
        <label>Text <input required value={text} onInput={(e) => setText(e.currentTarget.value)} /></label>
        <label class="check"><input type="checkbox" checked={encrypt} onChange={(e) => setEncrypt(e.currentTarget.checked)} /> Encrypt</label>
        <button type="submit">Send</button>
      </form>
    </details>
  );
}
