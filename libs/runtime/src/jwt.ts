/**
 * Access tokens: Ed25519-signed JWTs (jose). `auth` signs them; the gateway
 * verifies them locally with the public key, never asking `auth`.
 * Claims: `sub` user id, `name` username, `fam` refresh-token family.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import { SignJWT, errors as joseErrors, jwtVerify } from "jose";
import { ColmenaError } from "@colmena/protocol";

export const JWT_ISSUER = "colmena";
export const JWT_ALG = "EdDSA";

export interface AccessClaims {
  userId: string;
  username: string;
  family: string;
  /** Expiry, milliseconds since the epoch. */
  expiresAt: number;
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface PublicKeyRecord {
  kid: string;
  alg: typeof JWT_ALG;
  public_pem: string;
}
export interface PrivateKeyRecord extends PublicKeyRecord {
  private_pem: string;
}

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { kid: randomUUID(), privateKey, publicKey };
}

export function toPrivateRecord(k: SigningKey): PrivateKeyRecord {
  return {
    kid: k.kid,
    alg: JWT_ALG,
    public_pem: k.publicKey.export({ type: "spki", format: "pem" }).toString(),
    private_pem: k.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}
export function toPublicRecord(k: SigningKey | PrivateKeyRecord): PublicKeyRecord {
  if ("public_pem" in k) return { kid: k.kid, alg: JWT_ALG, public_pem: k.public_pem };
  return { kid: k.kid, alg: JWT_ALG, public_pem: k.publicKey.export({ type: "spki", format: "pem" }).toString() };
}

export async function fromPrivateRecord(r: PrivateKeyRecord): Promise<SigningKey> {
  const privateKey = createPrivateKey(r.private_pem);
  return { kid: r.kid, privateKey, publicKey: createPublicKey(privateKey) };
}
export async function fromPublicRecord(r: PublicKeyRecord): Promise<{ kid: string; key: KeyObject }> {
  return { kid: r.kid, key: createPublicKey(r.public_pem) };
}

/** A PEM private key from config (`COLMENA_JWT_PRIVATE_KEY`) as a signing key with a stable kid. */
export function signingKeyFromPem(pem: string): SigningKey {
  const privateKey = createPrivateKey(pem);
  const publicKey = createPublicKey(privateKey);
  const kid = createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("base64url").slice(0, 16);
  return { kid, privateKey, publicKey };
}

export async function signAccessToken(key: SigningKey, claims: { userId: string; username: string; family: string }, ttlSeconds: number): Promise<string> {
  return new SignJWT({ name: claims.username, fam: claims.family })
    .setProtectedHeader({ alg: JWT_ALG, kid: key.kid, typ: "JWT" })
    .setSubject(claims.userId)
    .setIssuer(JWT_ISSUER)
    .setIssuedAt()
    .setJti(randomUUID())
    // Rounded up, so the token lives at least `ttlSeconds`, as the `expires_in` sent
    // beside it says (rounded down, a 1 s token could expire in the same millisecond).
    .setExpirationTime(Math.ceil(Date.now() / 1000) + ttlSeconds)
    .sign(key.privateKey);
}

/** Verifies signature, issuer, algorithm and expiry; any failure is `unauthorized`. */
export async function verifyAccessToken(token: string, keys: ReadonlyMap<string, KeyObject>): Promise<AccessClaims> {
  try {
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const k = header.kid ? keys.get(header.kid) : undefined;
        if (!k) throw new ColmenaError("unauthorized", "token signed by an unknown key");
        return k;
      },
      { issuer: JWT_ISSUER, algorithms: [JWT_ALG] },
    );
    if (typeof payload.sub !== "string" || typeof payload.name !== "string" || typeof payload.fam !== "string" || typeof payload.exp !== "number")
      throw new ColmenaError("unauthorized", "token lacks required claims");
    return { userId: payload.sub, username: payload.name, family: payload.fam, expiresAt: payload.exp * 1000 };
  } catch (err) {
    if (err instanceof ColmenaError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new ColmenaError("unauthorized", "token expired");
    throw new ColmenaError("unauthorized", "invalid token");
  }
}
