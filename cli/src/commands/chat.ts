/**
 * `colmena chat ROOM`: an interactive terminal chat (protocol.md section 6)
 * as the logged-in user. Lines are messages; `/dm USER` switches to the DM
 * with USER, `/join ROOM` to a room, `/e2e` toggles end-to-end encryption of
 * the current room or DM, `/quit` (or Ctrl-D) ends. The chat logic is in
 * ../chat/chat-session.ts; this file is the terminal (node:readline).
 */
import { createInterface, emitKeypressEvents } from "node:readline";
import { roomName } from "@colmena/protocol";
import { UsageError } from "../args.ts";
import { withClient } from "../connect.ts";
import { ChatSession } from "../chat/chat-session.ts";
import type { Command } from "./command.ts";

const HELP = "lines are sent; /dm USER, /join ROOM, /e2e (encryption on/off), /quit";

async function chat(room: string, args: Parameters<Command["run"]>[0]): Promise<number> {
  return withClient(args, "session", async (client) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
    // Prints above the prompt, keeping what the user is typing.
    const print = (line: string) => {
      if (rl.terminal) process.stdout.write("\r\x1b[2K");
      process.stdout.write(line + "\n");
      if (rl.terminal) rl.prompt(true);
    };
    const session = new ChatSession(client, client.session!.username, print);
    const setPrompt = () => rl.setPrompt(`${session.dmTo ? `@${session.dmTo}` : session.room}> `);
    rl.setPrompt(`${room}> `);
    const closed = new Promise<void>((resolve) => {
      rl.once("close", resolve);
      client.onStatus((s) => s.type === "closed" && resolve());
    });
    if (process.stdin.isTTY) {
      emitKeypressEvents(process.stdin);
      process.stdin.on("keypress", () => session.typing());
    }
    await session.loadKey();
    await session.enter(room);
    print(`* ${HELP}`);
    setPrompt();
    rl.prompt();

    const command = async (line: string): Promise<boolean> => {
      const [cmd, arg] = line.trim().split(/\s+/, 2);
      switch (cmd) {
        case "/quit": return false;
        case "/dm": if (!arg) print("* /dm USER"); else await session.dm(arg); break;
        case "/join": if (!arg || !roomName.safeParse(arg).success) print("* /join ROOM (a-z, 0-9, _ and -)"); else await session.enter(arg); break;
        case "/e2e": await session.toggleE2e(); break;
        default: print(`* ${HELP}`);
      }
      return true;
    };
    // One line at a time, in order: a send finishes before the next starts.
    let queue = Promise.resolve(true);
    rl.on("line", (line) => {
      queue = queue.then(async (go) => {
        if (!go) return false;
        try {
          if (line.startsWith("/")) {
            if (!(await command(line))) { rl.close(); return false; }
          } else if (line.trim()) await session.send(line);
        } catch (err) {
          print(`* ${(err as Error).message}`);
        }
        setPrompt();
        rl.prompt();
        return true;
      });
    });
    await closed;
    await queue;
    await session.leaveAll();
    return 0;
  });
}

export const commands: Command[] = [
  {
    name: "chat",
    usage: "<room>",
    summary: `interactive chat in a room (${HELP})`,
    async run(args) {
      const room = args.positionals[0];
      if (!room || !roomName.safeParse(room).success) throw new UsageError("a room name (1-64 of a-z, 0-9, _ and -) is required");
      return chat(room, args);
    },
  },
];
