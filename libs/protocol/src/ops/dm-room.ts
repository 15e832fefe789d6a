/**
 * The private room `chat.dm` uses between two users, the same whichever
 * starts it: a hash of the two lowercased names in order (usernames may hold
 * characters a room name may not, and two names may be longer than a room
 * name). Here, with WebCrypto, so that a client can name the room before
 * sending (an end-to-end-encrypted DM binds its room) in Node and browsers.
 */
export async function dmRoom(a: string, b: string): Promise<string> {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()].sort();
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${x}\n${y}`)));
  return `dm-${[...digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
