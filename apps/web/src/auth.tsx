/** Register and log in (protocol.md section 4); the login is what the page keeps across reloads. */
import { useState } from "preact/hooks";
import { useAction, useClient } from "./hooks.ts";

export function Auth() {
  const client = useClient();
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [note, setNote] = useState("");
  const { error, busy, run } = useAction();

  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      if (mode === "register") {
        await client.register(username, password);
        setNote(`Registered ${username}.`);
      }
      await client.login(username, password);
    });
  };

  return (
    <main class="center">
      <form class="card auth" onSubmit={submit} aria-label={mode === "login" ? "Log in" : "Register"}>
        <h1>Colmena</h1>
        <div class="segmented" role="group" aria-label="Account">
          <button type="button" aria-pressed={mode === "login"} onClick={() => setMode("login")}>Log in</button>
          <button type="button" aria-pressed={mode === "register"} onClick={() => setMode("register")}>Register</button>
        </div>
        <label>Username
          <input name="username" autoComplete="username" required minLength={3} maxLength={32} pattern="[A-Za-z0-9_.\-]+"
            value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label>Password
          <input name="password" type="password" autoComplete={mode === "login" ? "current-password" : "new-password"} required minLength={8} maxLength={256}
            value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <button type="submit" class="primary" disabled={busy}>{mode === "login" ? "Log in" : "Register and log in"}</button>
        {note && <p role="status">{note}</p>}
        {error && <p class="error" role="alert">{error}</p>}
      </form>
    </main>
  );
}
