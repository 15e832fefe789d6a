import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { startRig } from "./helpers.ts";

function selfSigned(dir: string): { cert: string; key: string } | null {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"], { stdio: "ignore" });
    return { cert, key };
  } catch {
    return null;
  }
}

test("tls - with a certificate and key the TLS listener speaks the same JSON lines", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "colmena-tls-"));
  try {
    const files = selfSigned(dir);
    if (!files) return t.skip("openssl is not available to make a test certificate");
    await using rig = await startRig({ overrides: { tlsCert: files.cert, tlsKey: files.key, tlsPort: 0 } });
    assert.ok(rig.gw.ports.tls && rig.gw.ports.tls !== rig.gw.ports.tcp);
    const socket = tlsConnect({ host: "127.0.0.1", port: rig.gw.ports.tls, ca: readFileSync(files.cert), servername: "localhost" });
    await new Promise<void>((resolve, reject) => socket.once("secureConnect", () => resolve()).once("error", reject));
    socket.setEncoding("utf8");
    const line = new Promise<string>((resolve) => {
      let buf = "";
      socket.on("data", (d: string) => {
        buf += d;
        if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
      });
    });
    socket.write('{"id":"t1","op":"ping"}\r\n');
    const reply = JSON.parse(await line);
    assert.equal(reply.id, "t1");
    assert.equal(reply.ok, true);
    socket.destroy();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tls - without a certificate there is no TLS listener", async () => {
  await using rig = await startRig();
  assert.equal(rig.gw.ports.tls, undefined);
});
