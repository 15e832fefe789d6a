/**
 * The deployment files, checked here where there is no cluster and no
 * docker (issue 16 item 5): every Kubernetes document validates against the
 * Kubernetes schemas (kubernetes-models; they catch wrong types and missing
 * required fields, not unknown ones: `kubeconform -strict` does that where it
 * is installed), and what a rolling restart needs is there: probes on
 * /readyz and /healthz, a PodDisruptionBudget per Deployment, a grace period
 * longer than the drain, autoscalers for the gateway and the workers. The
 * compose file's structure is checked the same way (`docker compose config`
 * checks it fully where docker exists).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import * as models from "kubernetes-models";
import { natsUsers, repoRoot } from "@colmena/runtime";
import { interpolate, readCompose } from "./processes.ts";

const root = repoRoot();
const k8sDir = join(root, "deploy", "k8s");
type Doc = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; [k: string]: unknown };
type Container = { name: string; env?: { name: string; value?: string }[]; readinessProbe?: any; livenessProbe?: any; ports?: { containerPort: number }[]; resources?: any };

const k8sFiles = readdirSync(k8sDir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
const docs: (Doc & { file: string })[] = k8sFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(join(k8sDir, file), "utf8"))
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null)
    .map((d) => ({ ...d, file })),
);
const deployments = docs.filter((d) => d.kind === "Deployment");
const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;
/** The process bounds its own shutdown at 15 s (Lifecycle.handleSignals); the grace period must outlast both. */
const PROCESS_SHUTDOWN_MS = 15_000;

/** The kubernetes-models class of a document: `apps/v1` `Deployment` -> models.apps.v1.Deployment. */
function modelOf(apiVersion: string, kind: string): { new (o: unknown): { validate(): void } } | undefined {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const ns = group ? (models as any)[group.replace(/\.(\w)/g, (_: string, c: string) => c.toUpperCase())] : models;
  return ns?.[version]?.[kind];
}

test("deploy files - every Kubernetes document validates against its Kubernetes schema", () => {
  assert.ok(docs.length >= 20, "the manifests were read");
  for (const d of docs) {
    const Model = modelOf(d.apiVersion, d.kind);
    assert.ok(Model, `${d.file}: no Kubernetes schema for ${d.apiVersion} ${d.kind}`);
    const { file: _file, ...doc } = d;
    assert.doesNotThrow(() => new Model(doc).validate(), `${d.file}: ${d.kind} ${d.metadata.name} is not valid`);
  }
  // The check is not vacuous: a wrong type is refused.
  const bad = { ...deployments[0], spec: { ...deployments[0].spec, replicas: "2" } };
  assert.throws(() => new (modelOf("apps/v1", "Deployment")!)(bad).validate());
  const kustomization = parse(readFileSync(join(k8sDir, "kustomization.yaml"), "utf8")) as { resources: string[] };
  assert.deepEqual([...kustomization.resources].sort(), [...k8sFiles].sort(), "kustomization.yaml lists every manifest");
});

test("deploy files - each Deployment: /readyz and /healthz probes on its port, a PDB, a grace period over the drain, its own NATS user", () => {
  const users = natsUsers().map((u) => u.user);
  for (const d of deployments) {
    const pod = d.spec.template.spec;
    const labels = d.spec.template.metadata.labels as Record<string, string>;
    for (const c of pod.containers as Container[]) {
      const port = Number(envOf(c, "COLMENA_HEALTH_PORT") ?? envOf(c, "COLMENA_HTTP_PORT") ?? 7480);
      assert.equal(c.readinessProbe?.httpGet?.path, "/readyz", `${d.metadata.name}: readiness on /readyz`);
      assert.equal(c.livenessProbe?.httpGet?.path, "/healthz", `${d.metadata.name}: liveness on /healthz`);
      assert.equal(c.readinessProbe.httpGet.port, port, `${d.metadata.name}: readiness probes the port it serves`);
      assert.equal(c.livenessProbe.httpGet.port, port, `${d.metadata.name}: liveness probes the port it serves`);
      assert.ok(c.ports?.some((p) => p.containerPort === port), `${d.metadata.name}: the probed port is declared`);
      const drainMs = Number(envOf(c, "COLMENA_DRAIN_MS") ?? 10_000);
      assert.ok((pod.terminationGracePeriodSeconds ?? 30) * 1000 >= Math.max(drainMs, PROCESS_SHUTDOWN_MS) + 5_000, `${d.metadata.name}: terminationGracePeriodSeconds outlasts the drain`);
      const user = envOf(c, "NATS_USER");
      assert.ok(user && users.includes(user), `${d.metadata.name}: connects as a generated NATS user (${user})`);
    }
    const pdbs = docs.filter((p) => p.kind === "PodDisruptionBudget" && Object.entries(p.spec.selector.matchLabels).every(([k, v]) => labels[k] === v));
    assert.equal(pdbs.length, 1, `${d.metadata.name}: one PodDisruptionBudget`);
  }
});

test("deploy files - the gateway and the task workers scale on CPU with a HorizontalPodAutoscaler", () => {
  const hpas = docs.filter((d) => d.kind === "HorizontalPodAutoscaler");
  for (const name of ["gateway", "tasks-worker"]) {
    const hpa = hpas.find((h) => h.spec.scaleTargetRef.name === name);
    assert.ok(hpa, `an autoscaler for ${name}`);
    assert.ok(hpa.spec.minReplicas >= 2, `${name}: at least 2 replicas, so a restart leaves one`);
    const target = deployments.find((d) => d.metadata.name === name);
    assert.ok(target, `${name} is a Deployment`);
    for (const c of target.spec.template.spec.containers as Container[]) assert.ok(c.resources?.requests?.cpu, `${name}: a CPU request (utilisation is relative to it)`);
  }
});

test("deploy files - compose: every Colmena service runs a main.ts of the image as its own NATS user, probes /readyz, and may drain before it is killed", () => {
  const compose = readCompose();
  const users = natsUsers().map((u) => u.user);
  const colmena = Object.entries(compose.services).filter(([, s]) => s.image === "colmena:dev");
  assert.ok(colmena.length >= 7, "the Colmena services are there");
  for (const [name, s] of colmena) {
    assert.match(s.command?.[0] ?? "", /^services\/[a-z]+\/src\/main\.ts$/, `${name}: runs a service's main.ts`);
    assert.ok(readdirSync(join(root, s.command![0], "..")).includes("main.ts"), `${name}: ${s.command![0]} exists`);
    const env = s.environment ?? {};
    assert.ok(users.includes(env.NATS_USER), `${name}: its own NATS user (${env.NATS_USER})`);
    assert.match(interpolate(env.NATS_PASSWORD ?? ""), /.+/, `${name}: a NATS password`);
    assert.match(s.healthcheck?.test.join(" ") ?? "", /\/readyz/, `${name}: a health check on /readyz`);
    assert.ok(Number.parseInt(s.stop_grace_period ?? "10") * 1000 >= Math.max(Number(env.COLMENA_DRAIN_MS ?? 10_000), PROCESS_SHUTDOWN_MS) + 5_000, `${name}: stop_grace_period outlasts the drain`);
    for (const dep of s.depends_on ?? []) assert.ok(compose.services[dep], `${name}: depends on ${dep}, which exists`);
    for (const v of s.volumes ?? []) {
      const source = v.split(":")[0];
      if (!source.startsWith(".")) assert.ok(source in compose.volumes, `${name}: volume ${source} is declared`);
    }
  }
});
