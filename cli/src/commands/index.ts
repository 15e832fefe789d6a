/**
 * The registry of `colmena` subcommands: one line per command group, loaded
 * only when needed (so `colmena ping` does not load every service).
 * A new group is a module exporting `commands: Command[]` plus one line here.
 */
import type { Command } from "./command.ts";

export const commandGroups: (() => Promise<{ commands: Command[] }>)[] = [
  () => import("./up.ts"),
  () => import("./status.ts"),
  () => import("./session.ts"),
  () => import("./call.ts"),
  () => import("./tasks.ts"),
  () => import("./notify.ts"),
  () => import("./files.ts"),
  () => import("./chat.ts"),
];

export async function loadCommands(): Promise<Command[]> {
  return (await Promise.all(commandGroups.map((load) => load()))).flatMap((g) => g.commands);
}
