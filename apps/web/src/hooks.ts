/** Small hooks every screen uses: the client from context, pushed events, and actions whose errors show on the page. */
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";
import type { ColmenaClient } from "@colmena/client/browser";
import { errorText } from "./connection.ts";

export const ClientContext = createContext<ColmenaClient | null>(null);

export function useClient(): ColmenaClient {
  const c = useContext(ClientContext);
  if (!c) throw new Error("no client in context");
  return c;
}

/** Calls `fn` for every event of that name while the component is mounted. */
export function useEvent(name: string, fn: (data: any) => void): void {
  const client = useClient();
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const h = (d: unknown) => ref.current(d);
    client.on(name as "*", h);
    return () => { client.off(name as "*", h); };
  }, [client, name]);
}

/**
 * An error line for a screen, and `run` to wrap its actions: a failed request
 * shows there (never as an unhandled rejection, so the console stays clean).
 */
export function useAction(): { error: string; busy: boolean; run: (fn: () => Promise<unknown>) => Promise<void>; clear: () => void } {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError("");
    try {
      await fn();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }, []);
  return { error, busy, run, clear: () => setError("") };
}

/** Re-renders every `ms` while `on` (relative times, typing indicators). */
export function useTicker(ms: number, on = true): void {
  const [, set] = useState(0);
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => set((n) => n + 1), ms);
    return () => clearInterval(t);
  }, [ms, on]);
}

export function time(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}
