/**
 * The AUTH stream: the only truth auth has. Each entity (a user, a refresh
 * token family) is one subject; its current state is the last message on that
 * subject, read from the stream leader, so reads see every acknowledged write
 * and no read model is needed. Writes expect the entity's last sequence, so
 * two instances racing on one entity cannot both win.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeToken, eventSubject, serviceEvents, streamName } from "@colmena/protocol";
import { EntityLog, ensureStreamRetrying, type AppendResult, type LastEvent } from "@colmena/runtime";
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

/**
 * The AUTH stream's entities, each written through one `EntityLog`
 * (libs/runtime): conditional appends that retry through NATS outages with
 * one message id and recognise their own write after a lost ack.
 */
export class AuthStore {
  private constructor(private readonly log: EntityLog<UserRecord | FamilyEvent>) {}

  /** Ensures the AUTH stream exists with this instance's settings. */
  static async open(nc: NatsConnection, replicas: number): Promise<AuthStore> {
    await ensureStreamRetrying(nc, {
      name: AUTH_STREAM,
      subjects: [serviceEvents("auth")],
      num_replicas: replicas,
      // Only the last event of an entity is ever read; a little history is kept for operators.
      max_msgs_per_subject: 16,
    });
    return new AuthStore(new EntityLog(nc, AUTH_STREAM));
  }

  /** The user registered under `username` (in any letter case), or null. */
  user(username: string): Promise<LastEvent<UserRecord> | null> {
    return this.log.last(userSubject(username)) as Promise<LastEvent<UserRecord> | null>;
  }

  /** Writes a user's one event, unless the username (in any letter case) is taken: then `{ ok: false }`. */
  register(record: UserRecord): Promise<AppendResult> {
    return this.log.append(userSubject(record.username), record, 0);
  }

  /** The last event of a refresh token family, or null when there is no such family. */
  family(familyId: string): Promise<LastEvent<FamilyEvent> | null> {
    return this.log.last(familySubject(familyId)) as Promise<LastEvent<FamilyEvent> | null>;
  }

  /**
   * Appends to a family if its last event is still at `expectSeq` (0: a new
   * family); without `expectSeq` the write is unconditional (revocations).
   */
  appendFamily(familyId: string, event: FamilyEvent, expectSeq?: number): Promise<AppendResult> {
    return this.log.append(familySubject(familyId), event, expectSeq);
  }
}
