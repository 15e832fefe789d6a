/**
 * Every password hash auth computes goes through here: guesses (a login, a
 * register of a name that exists) are throttled per username and per client
 * address, and all hashing waits in one bounded, fair queue. A refused attempt
 * answers `rate_limited` with `retry_after_ms` and costs no hash. The state is
 * per instance: with N auth replicas an attacker gets at most N times the limits.
 */
import { isIPv4, isIPv6 } from "node:net";
import { ColmenaError } from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import { HashQueue } from "./hash-queue.ts";
import { FailureThrottle, type Verdict } from "./throttle.ts";

export interface AttemptLimits {
  hashConcurrency: number;
  hashQueue: number;
  usernameFailures: number;
  addressFailures: number;
  lockoutMs: number;
  lockoutMaxMs: number;
  failureDecayMs: number;
}

/**
 * The throttling key of a client address (from the gateway's
 * `Colmena-Remote-Addr`): IPv4 as is (also when IPv4-mapped), IPv6 by its
 * /64, since one host usually holds a whole /64. Anything else: none.
 */
export function addressKey(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const a = raw.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "").replace(/%.*$/, "");
  if (isIPv4(a)) return a;
  if (!isIPv6(a)) return undefined;
  const [head, tail] = a.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill("0"), ...t];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(":")}::/64`;
}

export class PasswordAttempts {
  private readonly usernames: FailureThrottle;
  private readonly addresses: FailureThrottle;
  private readonly queue: HashQueue;

  constructor(limits: AttemptLimits, private readonly log?: Logger, now: () => number = Date.now) {
    const lock = { baseLockMs: limits.lockoutMs, maxLockMs: limits.lockoutMaxMs, decayMs: limits.failureDecayMs };
    this.usernames = new FailureThrottle({ limit: limits.usernameFailures, ...lock }, now);
    this.addresses = new FailureThrottle({ limit: limits.addressFailures, ...lock }, now);
    this.queue = new HashQueue(limits.hashConcurrency, limits.hashQueue);
  }

  /**
   * One password guess for `username` from `address`: refused when either is
   * locked or has its limit in flight, or when the queue is full; `verify`
   * runs in the queue. A mismatch counts against both; a match clears the
   * username (not the address: an attacker's own account must not reset it).
   */
  async guess(username: string, address: string | undefined, verify: () => Promise<boolean>): Promise<boolean> {
    const user = username.toLowerCase();
    const addr = addressKey(address);
    this.admit(this.usernames.check(user), addr === undefined ? { ok: true } : this.addresses.check(addr));
    this.usernames.begin(user);
    if (addr !== undefined) this.addresses.begin(addr);
    try {
      const ok = await this.queue.run(addr ?? "", verify);
      if (ok) {
        this.usernames.reset(user);
      } else {
        const userLock = this.usernames.fail(user);
        if (userLock) this.log?.warn({ username: user, lock_ms: userLock }, "too many wrong passwords for a username: locked");
        const addrLock = addr === undefined ? 0 : this.addresses.fail(addr);
        if (addrLock) this.log?.warn({ address: addr, lock_ms: addrLock }, "too many wrong passwords from an address: locked");
      }
      return ok;
    } finally {
      this.usernames.end(user);
      if (addr !== undefined) this.addresses.end(addr);
    }
  }

  /** Hashing that guesses nothing (a new user's password): queued, and counted in flight against the address. */
  async hash<T>(address: string | undefined, fn: () => Promise<T>): Promise<T> {
    const addr = addressKey(address);
    if (addr === undefined) return this.queue.run("", fn);
    this.admit(this.addresses.check(addr));
    this.addresses.begin(addr);
    try {
      return await this.queue.run(addr, fn);
    } finally {
      this.addresses.end(addr);
    }
  }

  private admit(...verdicts: Verdict[]): void {
    let wait = 0;
    for (const v of verdicts) if (!v.ok) wait = Math.max(wait, v.retryAfterMs ?? this.queue.estimatedWaitMs());
    if (wait > 0) throw new ColmenaError("rate_limited", "too many password attempts; retry later", { retryAfterMs: wait });
  }
}
