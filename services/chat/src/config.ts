/** The chat service's settings: the common ones plus fan-out, presence and the line chat. Loaded once at boot and frozen. */
import { z } from "zod";
import { commonSettings, defineConfig, setting, type ConfigOf } from "@colmena/runtime";

const ms = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

export const chatSettings = {
  ...commonSettings,
  host: setting("COLMENA_HOST", z.string().default("::"), "bind address of the line chat listener (`::` is dual-stack)"),
  linePort: setting("COLMENA_LINE_CHAT_PORT", z.coerce.number().int().min(0).max(65535).optional(), "the original line chat's TCP port (off when unset; 0 picks a free one)"),
  pushAckWaitMs: setting("COLMENA_CHAT_PUSH_ACK_WAIT_MS", ms(5000, 500), "a replica that took a message to fan out and went silent this long is presumed dead, and another pushes it"),
  presenceTtlMs: setting("COLMENA_CHAT_PRESENCE_TTL_MS", ms(120_000, 5000), "presence keys expire unless refreshed this often: a backstop for keys nobody else cleans up"),
};

export const chatConfig = defineConfig(chatSettings);
export type ChatConfig = ConfigOf<typeof chatSettings>;
