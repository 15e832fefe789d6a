/** Opening a client for a command, logged in with the stored credentials when there are any. */
import { ColmenaClient, ColmenaError, isExpired, type Codec } from "@colmena/client";
import { flag, type Args } from "./args.ts";
import { clearCredentials, loadCredentials, saveCredentials } from "./credentials.ts";

/** `anonymous`: no login; `session`: the stored login, required; `optional`: the stored login when it is valid. */
export type Login = "anonymous" | "session" | "optional";

/** Runs `fn` on a client opened as `login` says, and always closes it. */
export async function withClient<T>(args: Args, login: Login, fn: (client: ColmenaClient) => Promise<T>): Promise<T> {
  const client = login === "anonymous" ? await openClient(args) : await openSession(args, login === "session");
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

async function openClient(args: Args): Promise<ColmenaClient> {
  const codec = (flag(args, "codec") ?? "json") as Codec;
  const timeout = flag(args, "timeout");
  return ColmenaClient.connect({ url: args.url, codec, reconnect: false, requestTimeoutMs: timeout ? Number(timeout) : undefined });
}

/**
 * A client logged in as the stored user: refreshes an expired access token
 * first, and saves rotated tokens. `required` makes "not logged in" an error.
 */
async function openSession(args: Args, required: boolean): Promise<ColmenaClient> {
  const client = await openClient(args);
  const creds = loadCredentials();
  if (!creds) {
    if (required) {
      client.close();
      throw new ColmenaError("unauthorized", "not logged in: run `colmena login <user>` first");
    }
    return client;
  }
  client.onSession((s) => (s ? saveCredentials(args.url, s) : clearCredentials()));
  try {
    let access = creds.access_token;
    let refresh = creds.refresh_token;
    if (refresh && isExpired({ userId: creds.user_id, username: creds.username, accessToken: access, expiresAt: creds.expires_at })) {
      const r = await client.request<{ access_token: string; refresh_token: string }>("auth.refresh", { refresh_token: refresh });
      access = r.access_token;
      refresh = r.refresh_token;
    }
    await client.authenticate(access, refresh);
  } catch (err) {
    if (!required && ColmenaError.is(err, "unauthorized")) return client;
    client.close();
    if (ColmenaError.is(err, "unauthorized")) throw new ColmenaError("unauthorized", `stored login no longer valid (${err.message}): run \`colmena login <user>\``);
    throw err;
  }
  return client;
}
