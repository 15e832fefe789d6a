/**
 * Failure throttling of password attempts, per key (a username, a client
 * address). After `limit` failures the key is locked for a window that
 * doubles with each lockout, up to `maxLockMs`, and then decays: each
 * `decayMs` without a failure forgets the failure count and one lockout.
 * Attempts still in flight count against the limit, so a burst sent all at
 * once cannot get more guesses than the limit before the first ones fail.
 */

export interface ThrottleLimits {
  /** Failures (and attempts in flight) a key may have before it is refused. */
  limit: number;
  /** The first lockout; each further one doubles it. */
  baseLockMs: number;
  maxLockMs: number;
  /** Quiet time that forgets the failure count and one lockout. */
  decayMs: number;
}

/** Whether an attempt may start; when not, how long until it may (unknown while the key's attempts are in flight). */
export type Verdict = { ok: true } | { ok: false; retryAfterMs?: number };

interface KeyState {
  failures: number;
  /** Lockouts not yet forgotten: the next lockout lasts `baseLockMs * 2^strikes`. */
  strikes: number;
  pending: number;
  lockedUntil: number;
  /** Decay counts from here: the last failure, or the end of the lockout. */
  since: number;
}

/** Keys remembered at most (a flood of made-up usernames must not grow memory); the least recently used go first. */
export const MAX_TRACKED_KEYS = 100_000;

const OK: Verdict = { ok: true };

export class FailureThrottle {
  private readonly keys = new Map<string, KeyState>();

  constructor(private readonly limits: ThrottleLimits, private readonly now: () => number = Date.now) {}

  check(key: string): Verdict {
    const s = this.touch(key);
    if (!s) return OK;
    const now = this.now();
    if (s.lockedUntil > now) return { ok: false, retryAfterMs: s.lockedUntil - now };
    if (s.failures + s.pending >= this.limits.limit) return { ok: false };
    return OK;
  }

  /** An attempt starts; `end` must follow. */
  begin(key: string): void {
    this.touch(key, true)!.pending++;
  }

  end(key: string): void {
    const s = this.keys.get(key);
    if (!s) return; // evicted meanwhile
    s.pending = Math.max(0, s.pending - 1);
    this.forgetIfClean(key, s);
  }

  /** A wrong password: counts, and locks the key once the count reaches the limit; returns the lockout begun (ms), or 0. */
  fail(key: string): number {
    const s = this.touch(key, true)!;
    const now = this.now();
    s.failures++;
    s.since = now;
    if (s.failures < this.limits.limit) return 0;
    const lock = Math.min(this.limits.maxLockMs, this.limits.baseLockMs * 2 ** Math.min(s.strikes, 30));
    s.strikes++;
    s.failures = 0;
    s.lockedUntil = s.since = now + lock;
    return lock;
  }

  /** A right password: the key starts afresh. */
  reset(key: string): void {
    const s = this.keys.get(key);
    if (!s) return;
    s.failures = s.strikes = s.lockedUntil = 0;
    this.forgetIfClean(key, s);
  }

  /** Keys tracked now (tests, metrics). */
  get size(): number {
    return this.keys.size;
  }

  /** The key's state, decayed to now and moved to the most recently used end; created when asked. */
  private touch(key: string, create = false): KeyState | undefined {
    let s = this.keys.get(key);
    if (s) {
      this.decay(s);
      this.keys.delete(key);
      this.keys.set(key, s);
    } else if (create) {
      s = { failures: 0, strikes: 0, pending: 0, lockedUntil: 0, since: this.now() };
      this.keys.set(key, s);
      if (this.keys.size > MAX_TRACKED_KEYS) this.keys.delete(this.keys.keys().next().value!);
    }
    return s;
  }

  private decay(s: KeyState): void {
    const steps = Math.floor((this.now() - s.since) / this.limits.decayMs);
    if (steps <= 0) return;
    s.failures = 0;
    s.strikes = Math.max(0, s.strikes - steps);
    s.since += steps * this.limits.decayMs;
  }

  private forgetIfClean(key: string, s: KeyState): void {
    if (s.pending === 0 && s.failures === 0 && s.strikes === 0 && s.lockedUntil <= this.now()) this.keys.delete(key);
  }
}
