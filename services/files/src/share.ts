/**
 * Share links: a token naming one version of one path of one user and when
 * it expires, signed with HMAC-SHA256 under a key derived from the master
 * key. Nothing else is in it; the download also checks the file still exists
 * (deleting the file revokes its links).
 */
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

export interface ShareClaims {
  u: string;
  p: string;
  v: number;
  exp: number;
}

export class ShareSigner {
  private readonly key: Buffer;
  constructor(master: Buffer) {
    this.key = Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), "colmena files share links", 32));
  }

  sign(claims: ShareClaims): string {
    const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
    return `${body}.${this.mac(body)}`;
  }

  /** The claims of a valid, unexpired token; null otherwise. */
  verify(token: string, now = Date.now()): ShareClaims | null {
    const [body, mac, extra] = token.split(".");
    if (!body || !mac || extra !== undefined) return null;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
    try {
      const c = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as ShareClaims;
      return typeof c.exp === "number" && c.exp * 1000 > now ? c : null;
    } catch {
      return null;
    }
  }

  private mac(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }
}
