/** Session commands: ping, register, login, logout, whoami. */
import { UsageError, type Args, type Options } from "../args.ts";
import { withClient } from "../connect.ts";
import { clearCredentials, credentialsPath, loadCredentials, saveCredentials } from "../credentials.ts";
import { readPassword } from "../prompt.ts";
import { printJson, type Command } from "./command.ts";

function userArg(args: Args): string {
  const u = args.positionals[0];
  if (!u) throw new UsageError("a username is required");
  return u;
}

const password: Options = { password: { type: "string" } };

export const commands: Command[] = [
  {
    name: "ping",
    usage: "",
    summary: "ask the gateway for its time and measure the round trip",
    run: (args) =>
      withClient(args, "anonymous", async (client) => {
        const hello = await client.request<{ version: string; protocol: number }>("hello", { client: "colmena-cli" });
        const t0 = performance.now();
        const { ts } = await client.ping();
        const ms = performance.now() - t0;
        process.stdout.write(`pong from ${args.url}: server time ${new Date(ts).toISOString()}, ${ms.toFixed(1)} ms (colmena ${hello.version}, protocol ${hello.protocol})\n`);
      }),
  },
  {
    name: "register",
    usage: "<user> [--password P]",
    summary: "create a user (password from --password, COLMENA_PASSWORD or a prompt)",
    options: password,
    async run(args) {
      const username = userArg(args);
      const pw = await readPassword(args);
      await withClient(args, "anonymous", async (client) => {
        const r = await client.register(username, pw);
        process.stdout.write(`registered ${r.username} (${r.user_id}); now run: colmena login ${r.username}\n`);
      });
    },
  },
  {
    name: "login",
    usage: "<user> [--password P]",
    summary: "log in and store the tokens in $COLMENA_HOME/credentials.json",
    options: password,
    async run(args) {
      const username = userArg(args);
      const pw = await readPassword(args);
      await withClient(args, "anonymous", async (client) => {
        await client.login(username, pw);
        saveCredentials(args.url, client.session!);
        process.stdout.write(`logged in as ${client.session!.username}; tokens saved in ${credentialsPath()}\n`);
      });
    },
  },
  {
    name: "logout",
    usage: "",
    summary: "revoke the stored tokens and forget them",
    async run(args) {
      if (!loadCredentials()) {
        process.stdout.write("not logged in\n");
        return;
      }
      try {
        await withClient(args, "optional", async (client) => {
          if (client.session) await client.logout();
        });
      } finally {
        clearCredentials();
      }
      process.stdout.write("logged out\n");
    },
  },
  {
    name: "whoami",
    usage: "[--json]",
    summary: "show the stored login as the gateway sees it",
    options: { json: { type: "boolean" } },
    run: (args) =>
      withClient(args, "session", async (client) => {
        const me = await client.whoami();
        if (args.flags.json) printJson(me);
        else process.stdout.write(`${me.username} (${me.user_id})\n`);
      }),
  },
];
