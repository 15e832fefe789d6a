/**
 * This browser's end-to-end key for chat (libs/client e2e.ts): made on first
 * use, kept in localStorage per user (the private key never leaves the
 * browser), published with `chat.keys.publish` so others can encrypt for it.
 */
import { exportPrivateKey, generateKeyPair, importKeyPair, keyDirectory, type ColmenaClient, type E2eKeyPair } from "@colmena/client/browser";

const storageKey = (username: string) => `colmena.e2e.${username.toLowerCase()}`;

export interface ChatKeys {
  own: E2eKeyPair;
  directory: ReturnType<typeof keyDirectory>;
}

export async function loadChatKeys(client: ColmenaClient, username: string): Promise<ChatKeys> {
  const saved = localStorage.getItem(storageKey(username));
  let own: E2eKeyPair;
  if (saved) {
    const { privateKey, publicKey } = JSON.parse(saved) as { privateKey: string; publicKey: string };
    own = await importKeyPair(privateKey, publicKey);
  } else {
    own = await generateKeyPair();
    localStorage.setItem(storageKey(username), JSON.stringify({ privateKey: await exportPrivateKey(own), publicKey: own.publicKey }));
  }
  const directory = keyDirectory((op, data) => client.request(op, data));
  const published = await client.request<{ keys: { key_id: string }[] }>("chat.keys.get", { username });
  if (!published.keys.some((k) => k.key_id === own.keyId)) await client.request("chat.keys.publish", { key_id: own.keyId, public_key: own.publicKey });
  return { own, directory };
}
