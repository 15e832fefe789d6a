/** Reads a password: `--password`, else `COLMENA_PASSWORD`, else a hidden prompt (or one line of piped stdin). */
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import type { Args } from "./args.ts";
import { flag } from "./args.ts";

export async function readPassword(args: Args, label = "password"): Promise<string> {
  const given = flag(args, "password") ?? args.config.password;
  if (given !== undefined) return given;
  const tty = process.stdin.isTTY === true;
  let muted = false;
  const output = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) process.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: tty });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.question(`${label}: `, (answer) => {
        if (tty) process.stderr.write("\n");
        resolve(answer);
      });
      muted = tty; // hide what is typed from here on
      rl.once("close", () => reject(new Error("no password given (use --password or COLMENA_PASSWORD)")));
    });
  } finally {
    rl.close();
  }
}
