/**
 * The NATS users of every Colmena deployment, generated from the op registry
 * and the bucket registry (libs/protocol), so that permissions cannot drift
 * from the code: one user per service, named as the service, with only its
 * own subjects, stream and buckets; the gateway; and an operator. The local
 * runner writes them into its nats-server config at every start, and
 * `scripts/gen-nats-users.ts` into deploy/nats/accounts.conf and
 * deploy/k8s/nats.yaml (a test checks the committed files are its output).
 *
 * Services trust the request headers (`Colmena-User`, ...) because only the
 * gateway user may publish on op subjects; no service may publish another's
 * ops (none calls another today: a call would be declared here). Every user
 * has its own inbox prefix (`_INBOX_<user>`), so no one reads the replies
 * meant for another (tokens, password hashes read back from a stream).
 */
import { ALL_CONN_LIFECYCLE, ALL_GATEWAY_HEARTBEATS, BUCKETS, HTTP_ROUTES, STREAM_READERS, GATEWAY_SERVICE, OPS, PUSH_ROOT, SYS_ROOT, httpRouteSubject, httpRoutesOf, opSubject, streamName, type BucketDef, type StreamReaderDef } from "@colmena/protocol";
import { HTTP_INBOX_SCOPE } from "./http-bridge/wire.ts";

export interface NatsUser {
  user: string;
  publish: string[];
  subscribe: string[];
  /** Whether it answers requests (services: ops and `$SRV` discovery). */
  responses: boolean;
}

/** The operator user: `nats micro ls`, stream reports and repairs. */
export const OPERATOR_USER = "operator";

/**
 * How long a service may take to answer a request it received: above the
 * longest op deadline (`tasks.submit` waits up to 600 s), since nats-server's
 * default for `allow_responses` is 2 minutes and a later answer is dropped.
 */
export const RESPONSE_EXPIRES = "15m";

/** The inbox prefix of a user's connections; its user may subscribe only under it. */
export const inboxPrefix = (user: string) => `_INBOX_${user}`;

/** The services that answer ops (not the gateway), from the registry. */
export function opServices(): string[] {
  return [...new Set(Object.values(OPS).map((d) => d.service))].filter((s) => s !== GATEWAY_SERVICE).sort();
}

/** The subjects of every op a service answers. */
const opSubjectsOf = (service: string) => Object.values(OPS).filter((d) => d.service === service).map((d) => opSubject(d.op)).sort();

/** The subjects of a service's declared HTTP routes (the gateway starts calls there). */
const routeSubjectsOf = (service: string) => httpRoutesOf(service).map((r) => httpRouteSubject(r.service, r.name)).sort();
/**
 * Where the peers of a bridged HTTP call talk (http-bridge/inboxes.ts): the
 * call inboxes of a user, a scope apart from its request replies, so a
 * service may stream to the gateway's calls and never into its op replies.
 */
const httpInboxesOf = (user: string) => `${inboxPrefix(user)}.${HTTP_INBOX_SCOPE}.>`;
const servicesWithRoutes = () => [...new Set(HTTP_ROUTES.map((r) => r.service))].sort();

/** JetStream API, ack and flow-control subjects for reading one stream (and creating consumers on it). */
function streamRead(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.FC.${stream}.>`,
  ];
}

/** Everything on one stream its owner does: create and update it, its durables, pulls, acks. */
function streamOwn(stream: string): string[] {
  return [
    ...streamRead(stream),
    `$JS.API.STREAM.CREATE.${stream}`,
    `$JS.API.STREAM.UPDATE.${stream}`,
    `$JS.API.STREAM.PURGE.${stream}`,
    `$JS.API.STREAM.MSG.DELETE.${stream}`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.API.CONSUMER.NAMES.${stream}`,
    `$JS.API.CONSUMER.LIST.${stream}`,
    `$JS.ACK.${stream}.>`,
    // The v2 ack subjects (js_ack_fc_v2) put the domain and account hash first.
    `$JS.ACK.*.*.${stream}.>`,
  ];
}

/** Reading another service's stream through one durable of its own: pulls and acks on that durable only. */
function streamConsume(r: StreamReaderDef): string[] {
  const stream = streamName(r.service);
  return [
    ...streamRead(stream),
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${r.durable}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${r.durable}`,
    `$JS.ACK.${stream}.${r.durable}.>`,
    `$JS.ACK.*.*.${stream}.${r.durable}.>`,
  ];
}
const streamsReadBy = (user: string) => Object.values(STREAM_READERS).filter((r) => r.reader === user);

const bucketStream = (b: BucketDef) => (b.kind === "object" ? `OBJ_${b.name}` : `KV_${b.name}`);
/** The subjects a bucket's messages live on: `$KV.<name>.>`, or `$O.<name>.>` for an object store. */
const bucketSubjects = (b: BucketDef) => (b.kind === "object" ? `$O.${b.name}.>` : `$KV.${b.name}.>`);
const bucketsOwnedBy = (user: string) => Object.values(BUCKETS).filter((b) => b.owner === user);
const bucketsReadBy = (user: string) => Object.values(BUCKETS).filter((b) => b.readers.includes(user));

function serviceUser(service: string): NatsUser {
  const owned = bucketsOwnedBy(service);
  const read = bucketsReadBy(service);
  return {
    user: service,
    publish: [
      `${PUSH_ROOT}.>`,
      // Its own namespace: its stream's subjects and its own core subjects (tasks.cancel.<id>).
      `${service}.>`,
      "$JS.API.INFO",
      ...streamOwn(streamName(service)),
      ...owned.flatMap((b) => [bucketSubjects(b), ...streamOwn(bucketStream(b))]),
      ...read.flatMap((b) => streamRead(bucketStream(b))),
      ...streamsReadBy(service).flatMap(streamConsume),
      ...(routeSubjectsOf(service).length > 0 ? [httpInboxesOf(GATEWAY_SERVICE)] : []),
    ],
    subscribe: [
      ...opSubjectsOf(service),
      ...routeSubjectsOf(service),
      "$SRV.>",
      // What gateways announce of their connections: read-only for services.
      ALL_CONN_LIFECYCLE,
      ALL_GATEWAY_HEARTBEATS,
      `${service}.>`,
      `${inboxPrefix(service)}.>`,
    ],
    responses: true,
  };
}

function gatewayUser(): NatsUser {
  const services = opServices();
  return {
    user: GATEWAY_SERVICE,
    publish: [
      ...services.flatMap(opSubjectsOf),
      `${SYS_ROOT}.>`,
      // Discovery requests for readiness and `sys.services`.
      "$SRV.>",
      "$JS.API.INFO",
      ...bucketsReadBy(GATEWAY_SERVICE).flatMap((b) => streamRead(bucketStream(b))),
      // HTTP calls: started on the routes' subjects, then streamed to the replica's call inbox.
      ...servicesWithRoutes().flatMap(routeSubjectsOf),
      ...servicesWithRoutes().map(httpInboxesOf),
    ],
    subscribe: [`${PUSH_ROOT}.>`, `${inboxPrefix(GATEWAY_SERVICE)}.>`],
    responses: false,
  };
}

function operatorUser(): NatsUser {
  // Trusted with the whole JetStream API anyway, so the nats CLI's own inboxes.
  return { user: OPERATOR_USER, publish: ["$SRV.>", "$JS.API.>", "_INBOX.>"], subscribe: ["_INBOX.>", "$SRV.>"], responses: false };
}

/** Every user: the gateway, each service of the registry, the operator. */
export function natsUsers(): NatsUser[] {
  return [gatewayUser(), ...opServices().map(serviceUser), operatorUser()];
}

/** The environment variable holding a user's password in compose and Kubernetes: `GATEWAY_PASSWORD`. */
export const passwordVariable = (user: string) => `${user.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_PASSWORD`;

const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;

/**
 * The `authorization` block of a nats-server config. `passwords` gives each
 * user's password (the runner); without it each is the variable
 * `$<USER>_PASSWORD`, filled in from the server's environment (deployments).
 */
export function authorizationBlock(passwords?: Readonly<Record<string, string>>): string {
  const users = natsUsers().map((u) => {
    const password = passwords ? JSON.stringify(passwords[u.user] ?? missing(u.user)) : `$${passwordVariable(u.user)}`;
    const responses = u.responses ? `\n        allow_responses: { max: 1, expires: "${RESPONSE_EXPIRES}" }` : "";
    return [
      `    {`,
      `      user: ${u.user}`,
      `      password: ${password}`,
      `      permissions: {`,
      `        publish: { allow: ${list(u.publish)} }`,
      `        subscribe: { allow: ${list(u.subscribe)} }${responses}`,
      `      }`,
      `    }`,
    ].join("\n");
  });
  return `authorization {\n  users = [\n${users.join(",\n")}\n  ]\n}\n`;
}

function missing(user: string): never {
  throw new Error(`no NATS password for user ${user}`);
}
