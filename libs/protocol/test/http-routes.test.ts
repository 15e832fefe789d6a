import { test } from "node:test";
import assert from "node:assert/strict";
import { HTTP_ROUTES, matchHttpRoute, httpRouteSubject } from "../src/mod.ts";

test("http routes - a request goes to the longest matching prefix that takes its method", () => {
  const ev = matchHttpRoute("GET", "/v1/notify/events");
  assert.ok(ev && ev !== "methodMismatch");
  assert.equal(ev.name, "events");
  const pub = matchHttpRoute("POST", "/v1/notify/ci.deploy");
  assert.ok(pub && pub !== "methodMismatch");
  assert.equal(pub.name, "publish");
  assert.equal(matchHttpRoute("GET", "/v1/notify/ci.deploy"), "methodMismatch");
  assert.equal(matchHttpRoute("GET", "/v1/nothing"), undefined);
  const tus = matchHttpRoute("OPTIONS", "/v1/tus");
  assert.ok(tus && tus !== "methodMismatch");
  assert.equal(tus.name, "tus");
});

test("http routes - names are unique per service and make valid subjects", () => {
  const seen = new Set<string>();
  for (const r of HTTP_ROUTES) {
    const subject = httpRouteSubject(r.service, r.name);
    assert.ok(!seen.has(subject), `duplicate route ${subject}`);
    seen.add(subject);
    assert.ok(r.prefix.startsWith("/"));
  }
});
