/**
 * One chat replica's copy of the presence bucket (presence.ts): its keys,
 * `<room>.<user>.<gateway>.<conn>`, with their revisions, indexed by room and
 * user, by connection and by gateway, so that a join, a leave, a closed
 * connection or a dead gateway touches only its own keys. A room of a
 * thousand members made every join and every close scan all of them.
 */

/** Usernames hold `.`, a KV key separator; `=` is allowed in keys and never in usernames. */
export const userKey = (u: string) => u.replaceAll(".", "=");
const userOfKey = (k: string) => k.replaceAll("=", ".");

export interface PresenceKey { room: string; user: string; gateway: string; conn: string }

export function parsePresenceKey(key: string): PresenceKey | null {
  const [room, user, gateway, conn, extra] = key.split(".");
  return conn && extra === undefined ? { room, user: userOfKey(user), gateway, conn } : null;
}

function addTo<K>(index: Map<K, Set<string>>, k: K, key: string): void {
  let set = index.get(k);
  if (!set) index.set(k, (set = new Set()));
  set.add(key);
}

function removeFrom<K>(index: Map<K, Set<string>>, k: K, key: string): void {
  const set = index.get(k);
  if (set?.delete(key) && set.size === 0) index.delete(k);
}

export class PresenceView {
  private readonly revs = new Map<string, number>();
  /** Deletes remembered for a while, so a watched write older than one (a put arriving after this replica's own delete) is ignored. */
  private readonly gone = new Map<string, { rev: number; at: number }>();
  private readonly byRoom = new Map<string, Map<string, Set<string>>>();
  private readonly byConn = new Map<string, Set<string>>();
  private readonly byGateway = new Map<string, Set<string>>();

  /** Applies a key's write at revision `rev`, unless something newer is known. */
  apply(key: string, rev: number, present: boolean): void {
    if (rev <= Math.max(this.revs.get(key) ?? 0, this.gone.get(key)?.rev ?? 0)) return;
    const p = parsePresenceKey(key);
    if (!p) return;
    if (present) {
      if (!this.revs.has(key)) this.index(p, key);
      this.revs.set(key, rev);
      this.gone.delete(key);
    } else {
      if (this.revs.delete(key)) this.unindex(p, key);
      this.gone.set(key, { rev, at: Date.now() });
    }
  }

  /** Forgets deletes older than `ms`. */
  forgetGone(now: number, ms: number): void {
    for (const [k, g] of this.gone) if (now - g.at > ms) this.gone.delete(k);
  }

  /** The users with a key in `room`. */
  usersIn(room: string): string[] {
    return [...(this.byRoom.get(room)?.keys() ?? [])];
  }

  /** Whether `user` has any key in `room`. */
  hasUser(room: string, user: string): boolean {
    return (this.byRoom.get(room)?.get(user)?.size ?? 0) > 0;
  }

  keysOfConn(conn: string): string[] {
    return [...(this.byConn.get(conn) ?? [])];
  }

  keysOfGateway(gateway: string): string[] {
    return [...(this.byGateway.get(gateway) ?? [])];
  }

  /** The gateways that hold keys. */
  gateways(): string[] {
    return [...this.byGateway.keys()];
  }

  private index(p: PresenceKey, key: string): void {
    let users = this.byRoom.get(p.room);
    if (!users) this.byRoom.set(p.room, (users = new Map()));
    addTo(users, p.user, key);
    addTo(this.byConn, p.conn, key);
    addTo(this.byGateway, p.gateway, key);
  }

  private unindex(p: PresenceKey, key: string): void {
    const users = this.byRoom.get(p.room);
    if (users) {
      removeFrom(users, p.user, key);
      if (users.size === 0) this.byRoom.delete(p.room);
    }
    removeFrom(this.byConn, p.conn, key);
    removeFrom(this.byGateway, p.gateway, key);
  }
}
