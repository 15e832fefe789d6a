/**
 * The AUTH stream: the only truth auth has. Each entity (a user, a refresh
 * token family) is one subject; its current state is the last message on that
 * subject, read from the stream leader (`STREAM.MSG.GET`, not a direct get that
 * a lagging replica could answer), so reads see every acknowledged write and no
 * read model is needed. Writes carry `expect.lastSubjectSequence`, so two
 * instances racing on one entity cannot both win.
 */
import { jetstream, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ColmenaError, encodeToken, eventSubject, serviceEvents, streamName } from "@colmena/protocol";
import { ensureStream } from "@colmena/runtime";
import type { PasswordHash } from "./passwords.ts";

export const AUTH_STREAM = streamName("auth");

/** `auth.ev.user.<lowercased username, encoded>`: one subject per username, case-insensitively. */
export const userSubject = (username: string) => eventSubject("auth", "user", encodeToken(username.toLowerCase()));
/** `auth.ev.family.<family id>`; family ids are base64url, already valid tokens. */
export const familySubject = (familyId: string) => eventSubject("auth", "family", familyId);

/** The one event of a user: written once, never changed. */
export interface UserRecord {
  type: "user.registered";
  user_id: string;
  username: string;
  password: PasswordHash;
  created_at: number;
}

/**
 * Events of a refresh token family. Each carries the whole state, so the last
 * event alone tells who the family belongs to and which token is current.
 */
export type FamilyEvent =
  | {
      type: "family.issued" | "family.rotated";
      user_id: string;
      username: string;
      token_hash: string;
      /** Hashes of the tokens this one superseded, newest first (bounded): presenting one of them is a reuse. */
      previous_hashes?: string[];
      expires_at: number;
      at: number;
    }
  | { type: "family.revoked"; user_id: string; username: string; reason: "logout" | "reuse"; at: number };

export interface Stored<T> {
  seq: number;
  data: T;
}

/** The write lost a race: the entity changed since it was read (or already exists). */
export class StaleWrite extends Error {
  override name = "StaleWrite";
}

/** A stream call that did not get through (no leader, timeout) is `unavailable`, not a bug. */
function unavailable(err: unknown): never {
  if (err instanceof ColmenaError || err instanceof StaleWrite) throw err;
  if (err instanceof JetStreamApiError) throw err;
  throw new ColmenaError("unavailable", "the auth store is unavailable, try again", { cause: err });
}

export class AuthStore {
  private constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
  ) {}

  /** Ensures the AUTH stream exists with this instance's settings. */
  static async open(nc: NatsConnection, replicas: number): Promise<AuthStore> {
    const jsm = await ensureStream(nc, {
      name: AUTH_STREAM,
      subjects: [serviceEvents("auth")],
      num_replicas: replicas,
      // Only the last event of an entity is ever read; a little history is kept for operators.
      max_msgs_per_subject: 16,
    });
    return new AuthStore(jsm, jetstream(nc));
  }

  /** The last event on a subject, or null when the entity does not exist. */
  async last<T>(subject: string): Promise<Stored<T> | null> {
    try {
      const m = await this.jsm.streams.getMessage(AUTH_STREAM, { last_by_subj: subject });
      return m ? { seq: m.seq, data: m.json<T>() } : null;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return null;
      return unavailable(err);
    }
  }

  /**
   * Appends an event if the subject's last sequence is still `expectSeq`
   * (0: the subject must be empty); throws StaleWrite when it is not.
   * Without `expectSeq` the write is unconditional (revocations).
   */
  async append(subject: string, event: UserRecord | FamilyEvent, expectSeq?: number): Promise<number> {
    try {
      const ack = await this.js.publish(subject, JSON.stringify(event), expectSeq === undefined ? undefined : { expect: { lastSubjectSequence: expectSeq } });
      return ack.seq;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) throw new StaleWrite(subject, { cause: err });
      return unavailable(err);
    }
  }
}
