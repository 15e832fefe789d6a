/** Session commands: ping, register, login, logout, whoami. */
import { UsageError, type Args } from "../args.ts";
import { openClient, openSession } from "../connect.ts";
import { clearCredentials, credentialsPath, loadCredentials, saveCredentials } from "../credentials.ts";
import { readPassword } from "../prompt.ts";
import { printJson, type Command } from "./command.ts";

function userArg(args: Args): string {
  const u = args.positionals[0];
  if (!u) throw new UsageError("a username is required");
  return u;
}

export const commands: Command[] = [
  {
    name: "ping",
    usage: "",
    summary: "ask the gateway for its time and measure the round trip",
    async run(args) {
      const client = await openClient(args);
      try {
        const hello = await client.request<{ version: string; protocol: number }>("hello", { client: "colmena-cli" });
        const t0 = performance.now();
        const { ts } = await client.ping();
        const ms = performance.now() - t0;
        process.stdout.write(`pong from ${args.url}: server time ${new Date(ts).toISOString()}, ${ms.toFixed(1)} ms (colmena ${hello.version}, protocol ${hello.protocol})\n`);
      } finally {
        client.close();
      }
    },
  },
  {
    name: "register",
    usage: "<user> [--password P]",
    summary: "create a user (password from --password, COLMENA_PASSWORD or a prompt)",
    async run(args) {
      const username = userArg(args);
      const password = await readPassword(args);
      const client = await openClient(args);
      try {
        const r = await client.register(username, password);
        process.stdout.write(`registered ${r.username} (${r.user_id}); now run: colmena login ${r.username}\n`);
      } finally {
        client.close();
      }
    },
  },
  {
    name: "login",
    usage: "<user> [--password P]",
    summary: "log in and store the tokens in $COLMENA_HOME/credentials.json",
    async run(args) {
      const username = userArg(args);
      const password = await readPassword(args);
      const client = await openClient(args);
      try {
        await client.login(username, password);
        saveCredentials(args.url, client.session!);
        process.stdout.write(`logged in as ${client.session!.username}; tokens saved in ${credentialsPath()}\n`);
      } finally {
        client.close();
      }
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
        const client = await openSession(args, false);
        try {
          if (client.session) await client.logout();
        } finally {
          client.close();
        }
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
    async run(args) {
      const client = await openSession(args);
      try {
        const me = await client.whoami();
        if (args.flags.json) printJson(me);
        else process.stdout.write(`${me.username} (${me.user_id})\n`);
      } finally {
        client.close();
      }
    },
  },
];
