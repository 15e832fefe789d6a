/**
 * design.md section 1: the gateway knows no op and no service beyond what
 * the op registry declares. This scans every string and template literal of
 * services/gateway/src (comments may name ops; code may not) for op names,
 * service names, event families, the fields op declarations name, and the
 * declared HTTP routes' names and paths.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { EVENTS, GATEWAY_SERVICE, HTTP_ROUTES, OPS } from "@colmena/protocol";
import { repoRoot } from "@colmena/runtime";

const srcDir = join(repoRoot(), "services", "gateway", "src");

/**
 * Every string literal and template chunk in a TypeScript source (not import
 * paths), and every property name it reads or writes (`data.timeout_ms`,
 * `{ estado: ... }`, `const { tipo } = frame`).
 */
function namesOf(file: string, text: string): { literals: string[]; properties: string[] } {
  const literals: string[] = [];
  const properties: string[] = [];
  const visit = (n: ts.Node) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier) return;
    if (isControlFrameListener(n)) return;
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n)) literals.push(n.text);
    if (ts.isPropertyAccessExpression(n)) properties.push(n.name.text);
    if ((ts.isPropertyAssignment(n) || ts.isShorthandPropertyAssignment(n)) && ts.isIdentifier(n.name)) properties.push(n.name.text);
    if (ts.isBindingElement(n) && ts.isObjectBindingPattern(n.parent)) {
      const key = n.propertyName ?? n.name;
      if (ts.isIdentifier(key)) properties.push(key.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true));
  return { literals, properties };
}

/** `ws.on("ping", ...)`: a WebSocket control frame (RFC 6455) as the ws library names its event, not the `ping` op. */
function isControlFrameListener(n: ts.Node): boolean {
  if (!ts.isCallExpression(n) || !ts.isPropertyAccessExpression(n.expression) || n.expression.name.text !== "on") return false;
  const [first] = n.arguments;
  return !!first && ts.isStringLiteral(first) && (first.text === "ping" || first.text === "pong") && n.arguments.length === 2;
}

const defs = Object.values(OPS);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
// Services today and those the design announces (chat, files, notify).
const services = [...new Set([...defs.map((d) => d.service), "chat", "files", "notify"])].filter((s) => s !== GATEWAY_SERVICE);
const families = [...new Set(Object.keys(EVENTS).map((e) => e.split(".")[0]))];
/** Names that may not appear anywhere inside a literal (`"... send auth.token"` counts). */
const inside = [
  ...defs.filter((d) => d.op.includes(".")).map((d) => d.op),
  ...[...services, ...families].map((s) => `${s}.`),
].map((n) => new RegExp(`(^|[^A-Za-z0-9_.-])${escape(n)}`));
/** The declared HTTP routes' paths, anywhere in a literal (`"/v1/files/"`, `"/v1/notify"`): the gateway learns them from HTTP_ROUTES. */
const routePaths = HTTP_ROUTES.map((r) => new RegExp(escape(r.prefix.replace(/\/$/u, ""))));
/** Fields that op declarations name (a timeout's, a legacy marker) and the other fields of the original clients' frames. */
const fields = new Set([
  ...defs.flatMap((d) => (d.timeout ? [d.timeout.field, ...(d.timeout.when ? [d.timeout.when] : [])] : [])),
  ...defs.flatMap((d) => (d.legacy ? [d.legacy.marker] : [])),
  "contenido", "tarea_id", "estado", "mensaje", "resultado",
]);
/** Route names as whole literals; `publish` is also the operation a NATS permission error names (requests.ts). */
const routeNames = HTTP_ROUTES.map((r) => r.name).filter((n) => n !== "publish");
/** Words that may not be a whole literal: undotted ops, services, and those fields. */
const whole = new Set([...defs.filter((d) => !d.op.includes(".")).map((d) => d.op), ...services, ...fields, ...routeNames]);

function offences(file: string, text: string): string[] {
  const { literals, properties } = namesOf(file, text);
  return [
    ...literals.filter((lit) => whole.has(lit) || inside.some((re) => re.test(lit)) || routePaths.some((re) => re.test(lit))).map((lit) => `${file}: ${JSON.stringify(lit)}`),
    ...properties.filter((p) => fields.has(p)).map((p) => `${file}: .${p}`),
  ];
}

test("gateway - the scan catches op, service, field and HTTP route names in literals and properties (it is not vacuous)", () => {
  // Lines in the shape of the gateway's code before issue 9 section 6.
  const before = `
    const def = findOp("tasks.submit");
    if (def.op === "auth.login") x();
    const local = { hello: 1, "auth.whoami": 2 };
    if (data.wait !== true) return base;
    const asked = data.timeout_ms;
    const { tipo, contenido } = frame;
    answer({ estado: "ok", mensaje: m });
    throw new Error(\`no \${svc} here; send auth.token\`);
    sub("chat.presence"); if (name === "diag") y(); ev("task.done"); op("ping");
    if (path.startsWith("/v1/files/")) files(); if (route === "tus") tus(); const u = \`/v1/share/\${t}\`;`;
  assert.deepEqual(offences("old.ts", before).map((o) => o.slice("old.ts: ".length)).sort(), [
    '" here; send auth.token"', '"auth.login"', '"auth.whoami"', '"chat.presence"', '"diag"', '"ping"', '"task.done"', '"tasks.submit"',
    '"/v1/files/"', '"tus"', '"/v1/share/"',
    ".contenido", ".estado", ".mensaje", ".timeout_ms", ".tipo", ".wait",
  ].sort());
  assert.deepEqual(offences("fine.ts", `import { a } from "./auth.ts"; log("connection opened"); const wait = take(); const s = \`\${root}.push.\${ch}\`; h.set("Colmena-User", id);`), []);
});

test("gateway - its source names no op, no service, no event family, no op-declared field and no HTTP route", () => {
  const files = readdirSync(srcDir).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length >= 10, files.join());
  const found = files.flatMap((f) => offences(f, readFileSync(join(srcDir, f), "utf8")));
  assert.deepEqual(found, [], `op-specific literals in services/gateway/src:\n${found.join("\n")}`);
});
