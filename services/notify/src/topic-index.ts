/**
 * The topic-matching index: a subject trie over subscription patterns, so
 * the subscriptions matching a topic are found by walking the topic's tokens
 * (at most two branches per token: the literal and `*`, plus `>` leaves),
 * never by scanning them all. NATS semantics: `*` matches exactly one token,
 * `>` one or more trailing tokens.
 */
interface Node<V> {
  children: Map<string, Node<V>>;
  /** Patterns ending here. */
  here: Map<string, V>;
  /** Patterns ending in `>` here: they match one or more further tokens. */
  rest: Map<string, V>;
}

const node = <V>(): Node<V> => ({ children: new Map(), here: new Map(), rest: new Map() });

export class TopicIndex<V> {
  private root: Node<V> = node();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds (or replaces) the entry `key` under `pattern`. */
  add(pattern: string, key: string, value: V): void {
    const { n, last } = this.walk(pattern, true)!;
    const map = last === ">" ? n.rest : n.here;
    if (!map.has(key)) this.count++;
    map.set(key, value);
  }

  remove(pattern: string, key: string): void {
    const found = this.walk(pattern, false);
    if (!found) return;
    const map = found.last === ">" ? found.n.rest : found.n.here;
    if (map.delete(key)) this.count--;
    // Empty nodes are left in place: patterns come back, and they are cheap.
  }

  /** Every entry whose pattern matches the concrete `topic`. */
  match(topic: string): V[] {
    const out: V[] = [];
    const tokens = topic.split(".");
    const visit = (n: Node<V>, i: number) => {
      if (i < tokens.length) for (const v of n.rest.values()) out.push(v);
      if (i === tokens.length) {
        for (const v of n.here.values()) out.push(v);
        return;
      }
      const lit = n.children.get(tokens[i]);
      if (lit) visit(lit, i + 1);
      const star = n.children.get("*");
      if (star) visit(star, i + 1);
    };
    visit(this.root, 0);
    return out;
  }

  clear(): void {
    this.root = node();
    this.count = 0;
  }

  /** The node holding a pattern's entries (its tokens before a final `>`). */
  private walk(pattern: string, create: boolean): { n: Node<V>; last: string } | null {
    const tokens = pattern.split(".");
    const last = tokens[tokens.length - 1];
    const path = last === ">" ? tokens.slice(0, -1) : tokens;
    let n = this.root;
    for (const t of path) {
      let next = n.children.get(t);
      if (!next) {
        if (!create) return null;
        next = node();
        n.children.set(t, next);
      }
      n = next;
    }
    return { n, last };
  }
}

/** Whether `pattern` matches `topic` token by token: the linear reference the index is tested against. */
export function patternMatches(pattern: string, topic: string): boolean {
  const p = pattern.split(".");
  const t = topic.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return t.length > i;
    if (i >= t.length) return false;
    if (p[i] !== "*" && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}
