/**
 * The auth service's logic, with no listening of its own (start.ts serves it):
 * register, login, refresh with rotation and reuse detection, logout.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { authOps, conflict, unauthorized, username as usernameSchema, type ReplyOf } from "@colmena/protocol";
import { signAccessToken, type Caller, type FamilyRevocations, type LastEvent, type Logger, type SigningKey } from "@colmena/runtime";
import type { PasswordAttempts } from "./attempts.ts";
import { hashPassword, verifyPassword, type PasswordHash } from "./passwords.ts";
import type { AuthStore, FamilyEvent, UserRecord } from "./store.ts";
import { familyOf, isFamilyId, newFamilyId, newRefreshToken, sameHash, tokenHash } from "./tokens.ts";

/** How many superseded refresh tokens a family remembers for reuse detection (about a year of 15-minute rotations would be far more; a thief replays soon). */
const MAX_PREVIOUS_HASHES = 64;

export interface AuthServiceDeps {
  store: AuthStore;
  key: SigningKey;
  log: Logger;
  accessTtlS: number;
  refreshTtlS: number;
  scryptN: number;
  /** The throttles and the hashing queue every password hash goes through. */
  attempts: PasswordAttempts;
  /** Where revoked families are announced to the gateways, until their last access token expires. */
  revocations: FamilyRevocations;
}

type RegisterReply = ReplyOf<(typeof authOps)["auth.register"]>;
type LoginReply = ReplyOf<(typeof authOps)["auth.login"]>;
type RefreshReply = ReplyOf<(typeof authOps)["auth.refresh"]>;

/** The same words for an unknown user and a wrong password, so neither is revealed. */
export const BAD_CREDENTIALS = "wrong username or password";

/** `from` is the client's address (`Colmena-Remote-Addr`), when a gateway relayed the request. */
export interface AuthService {
  register(req: { username: string; password: string }, from?: string): Promise<RegisterReply>;
  login(req: { username: string; password: string }, from?: string): Promise<LoginReply>;
  refresh(req: { refresh_token: string }): Promise<RefreshReply>;
  /** Revokes a family if it belongs to `caller`; anything else is a quiet no-op. */
  logout(caller: Caller, familyId: string | undefined): Promise<Record<string, never>>;
}

export function createAuthService(deps: AuthServiceDeps): AuthService {
  const { store, key, log, attempts } = deps;
  // Unknown users are checked against this hash, so they cost as much as known ones.
  const dummy: Promise<PasswordHash> = hashPassword(randomBytes(16).toString("hex"), deps.scryptN);

  /**
   * A register for a username that exists. Asked again with the password it
   * was registered with, it is the same register retried (its reply was lost:
   * an instance killed after the write, a dropped connection), so it answers
   * as the first did; asking reveals nothing a login with that password would
   * not. Anything else is `conflict`.
   */
  async function registeredBefore(user: LastEvent<UserRecord> | null, username: string, password: string, from: string | undefined): Promise<RegisterReply> {
    // A wrong password here is a guess like a failed login, throttled alike.
    if (user && (await attempts.guess(username, from, () => verifyPassword(password, user.event.password))))
      return { user_id: user.event.user_id, username: user.event.username };
    throw conflict(`username '${username}' is taken`);
  }

  async function accessToken(userId: string, username: string, family: string): Promise<string> {
    return signAccessToken(key, { userId, username, family }, deps.accessTtlS);
  }

  async function revoke(familyId: string, state: FamilyEvent, reason: "logout" | "reuse"): Promise<void> {
    // Unconditional: a revocation must win over any rotation racing it.
    await store.appendFamily(familyId, { type: "family.revoked", user_id: state.user_id, username: state.username, reason, at: Date.now() });
    await announce(familyId, state.user_id, reason);
    log.info({ family: familyId, user: state.user_id, reason }, "refresh token family revoked");
  }

  /** Tells the gateways, so the family's access tokens stop working now rather than when they expire. */
  function announce(familyId: string, userId: string, reason: "logout" | "reuse"): Promise<void> {
    return deps.revocations.revoke(familyId, { user_id: userId, reason }, deps.accessTtlS);
  }

  return {
    async register({ username, password }, from) {
      // Early answer; the conditional write below is what really decides.
      const existing = await store.user(username);
      if (existing) return registeredBefore(existing, username, password, from);
      const record: UserRecord = {
        type: "user.registered",
        user_id: randomUUID(),
        username,
        password: await attempts.hash(from, () => hashPassword(password, deps.scryptN)),
        created_at: Date.now(),
      };
      // Retried through outages with one message id: a try that landed with its ack lost counts as ours.
      const written = await store.register(record);
      // Another register of this name came first (perhaps this same one, retried by the client meanwhile).
      if (!written.ok) return registeredBefore(await store.user(username), username, password, from);
      log.info({ user: record.user_id, username }, "user registered");
      return { user_id: record.user_id, username };
    },

    async login({ username, password }, from) {
      const user = usernameSchema.safeParse(username).success ? await store.user(username) : null;
      const ok = await attempts.guess(username, from, async () => verifyPassword(password, user?.event.password ?? (await dummy)));
      if (!user || !ok) throw unauthorized(BAD_CREDENTIALS);
      const { user_id, username: name } = user.event;
      const family = newFamilyId();
      const refresh_token = newRefreshToken(family);
      const issued = await store.appendFamily(
        family,
        { type: "family.issued", user_id, username: name, token_hash: tokenHash(refresh_token), expires_at: Date.now() + deps.refreshTtlS * 1000, at: Date.now() },
        0,
      );
      // A fresh random family id cannot exist already: a refusal here is a bug, not a race.
      if (!issued.ok) throw new Error(`refresh token family ${family} exists already`);
      return { user_id, username: name, access_token: await accessToken(user_id, name, family), refresh_token, expires_in: deps.accessTtlS };
    },

    async refresh({ refresh_token }) {
      const family = familyOf(refresh_token);
      if (!family) throw unauthorized("invalid refresh token");
      const last = await store.family(family);
      if (!last) throw unauthorized("invalid refresh token");
      const state = last.event;
      if (state.type === "family.revoked") throw unauthorized("refresh token revoked");
      if (state.expires_at <= Date.now()) throw unauthorized("refresh token expired");
      const presented = tokenHash(refresh_token);
      if (!sameHash(presented, state.token_hash)) {
        // Only a token this family really issued counts as a reuse; a made-up
        // secret (the family id is no secret: it rides in the access token) must
        // not let anyone end someone else's session.
        if (!(state.previous_hashes ?? []).some((h) => sameHash(presented, h))) throw unauthorized("invalid refresh token");
        // An old token of the family came back: someone holds a copy. End the family.
        await revoke(family, state, "reuse");
        throw unauthorized("refresh token already used; its session is revoked");
      }
      const next = newRefreshToken(family);
      const rotated = await store.appendFamily(
        family,
        {
          type: "family.rotated",
          user_id: state.user_id,
          username: state.username,
          token_hash: tokenHash(next),
          previous_hashes: [state.token_hash, ...(state.previous_hashes ?? [])].slice(0, MAX_PREVIOUS_HASHES),
          expires_at: Date.now() + deps.refreshTtlS * 1000,
          at: Date.now(),
        },
        last.seq,
      );
      if (!rotated.ok) {
        // Another refresh of this same token won the race: this one is a reuse.
        await revoke(family, state, "reuse");
        throw unauthorized("refresh token already used; its session is revoked");
      }
      return { access_token: await accessToken(state.user_id, state.username, family), refresh_token: next, expires_in: deps.accessTtlS };
    },

    async logout(caller, familyId) {
      if (!isFamilyId(familyId)) return {};
      const last = await store.family(familyId);
      if (!last || last.event.user_id !== caller.id) return {};
      if (last.event.type !== "family.revoked") await revoke(familyId, last.event, "logout");
      // A logout retried after a failed announcement: the family is revoked, the gateways must still hear it.
      else await announce(familyId, last.event.user_id, last.event.reason);
      return {};
    },
  };
}
