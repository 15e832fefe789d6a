/**
 * The inbox as subscription spans (src/model.ts, src/queries.ts), against a
 * reference that keeps a row per recipient the plain way: random
 * subscribes, unsubscribes, resubscribes, notifications (open and reserved
 * topics, literal and wildcard patterns) and reads for a few users, then
 * every user's inbox read in pages (every limit, cursor and unread filter)
 * and every notification's recipients, from the fold's memory and from the
 * spans alone, must equal the reference's.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { userTopicToken } from "@colmena/protocol";
import type { StoredEvent } from "@colmena/runtime";
import { NotifyModel, RecentRecipients, mayReceive } from "../src/model.ts";
import { NotifyQueries } from "../src/queries.ts";
import { patternMatches } from "../src/topic-index.ts";
import type { NoteEvent, ReadEvent, SubscriptionEvent } from "../src/events.ts";

/** A deterministic generator, so a failure repeats. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

function stored(seq: number, subject: string, body: unknown): StoredEvent {
  const data = new TextEncoder().encode(JSON.stringify(body));
  return { seq, subject, data, time: seq, json: <T>() => JSON.parse(new TextDecoder().decode(data)) as T };
}

const USERS = ["ana", "Bob_x", "carl", "dee"];
const PATTERNS = ["deploys.prod", "deploys.*", "deploys.>", ">", "*.prod", "*", "ci.*.done", "tasks.*.done", "tasks.ana.done", "tasks.>", "chat.bob__x.mention"];
const TOPICS = ["deploys.prod", "deploys.dev", "deploys.prod.eu", "ci", "ci.web.done", "x.prod", "tasks.ana.done", "tasks.carl.done", `tasks.${userTopicToken("Bob_x")}.failed`, "chat.bob__x.mention", "chat.dee.mention"];

test("notify inbox spans - the same inboxes, pages and recipients as a row per recipient", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = rng(seed);
    const db = new Database(":memory:");
    const model = new NotifyModel();
    model.migrate(db);
    const q = new NotifyQueries(db, model.recent);
    const cold = new NotifyQueries(db, new RecentRecipients());

    // The reference: what each user's inbox holds, a row per (user, notification), and what they read.
    const active = new Map<string, Set<string>>(USERS.map((u) => [u, new Set()]));
    const inbox = new Map<string, number[]>(USERS.map((u) => [u, []]));
    const read = new Map<string, Set<number>>(USERS.map((u) => [u, new Set()]));
    const ids = new Map<number, string>();
    db.exec("BEGIN");
    for (let seq = 1; seq <= 400; seq++) {
      const user = USERS[next(USERS.length)];
      const roll = next(10);
      if (roll < 3) {
        const topic = PATTERNS[next(PATTERNS.length)];
        const sub: SubscriptionEvent = { kind: "subscribed", user_id: user, username: user, topic, channels: ["push"], ts: seq };
        model.apply(db, stored(seq, `notify.ev.sub.${user}.h`, sub));
        active.get(user)!.add(topic);
      } else if (roll < 4 && active.get(user)!.size > 0) {
        const topic = [...active.get(user)!][next(active.get(user)!.size)];
        const sub: SubscriptionEvent = { kind: "unsubscribed", user_id: user, username: user, topic, channels: ["push"], ts: seq };
        model.apply(db, stored(seq, `notify.ev.sub.${user}.h`, sub));
        active.get(user)!.delete(topic);
      } else if (roll < 5 && ids.size > 0) {
        const mine = inbox.get(user)!;
        const pick = [...ids.keys()][next(ids.size)];
        const ev: ReadEvent = { user_id: user, ids: [ids.get(pick)!], ts: seq };
        model.apply(db, stored(seq, `notify.ev.read.${user}`, ev));
        if (mine.includes(pick)) read.get(user)!.add(pick);
      } else {
        const topic = TOPICS[next(TOPICS.length)];
        const id = `n_${seq}`;
        const note: NoteEvent = { notification_id: id, topic, title: `t${seq}`, ts: seq, by: "test" };
        model.apply(db, stored(seq, `notify.ev.note.${id}`, note));
        model.apply(db, stored(seq, `notify.ev.note.${id}`, note)); // folded twice: nothing more
        ids.set(seq, id);
        for (const u of USERS) {
          if ([...active.get(u)!].some((p) => patternMatches(p, topic)) && mayReceive(topic, u)) inbox.get(u)!.push(seq);
        }
      }
    }
    db.exec("COMMIT");

    for (const [seq, id] of ids) {
      const want = USERS.filter((u) => inbox.get(u)!.includes(seq)).sort();
      assert.deepEqual([...q.recipients(id)].sort(), want, `seed ${seed}: recipients of ${id} from the fold`);
      assert.deepEqual([...cold.recipients(id)].sort(), want, `seed ${seed}: recipients of ${id} from the spans`);
      assert.equal(q.recipientCount(id), want.length);
    }
    for (const u of USERS) {
      for (const unreadOnly of [false, true]) {
        const want = inbox.get(u)!.filter((s) => !unreadOnly || !read.get(u)!.has(s));
        for (const limit of [1, 3, 50, 1000]) {
          const got: number[] = [];
          let since: string | undefined;
          for (;;) {
            const page = q.inbox(u, { since, limit, unreadOnly });
            for (const n of page.rows) {
              const seq = Number(n.notification_id.slice(2));
              got.push(seq);
              assert.equal(n.read, read.get(u)!.has(seq), `seed ${seed}: ${u} read state of ${n.notification_id}`);
            }
            if (!page.more) break;
            since = page.rows[page.rows.length - 1].notification_id;
          }
          assert.deepEqual(got, want, `seed ${seed}: ${u}'s inbox in pages of ${limit}${unreadOnly ? ", unread only" : ""}`);
        }
      }
      // A time as `since`: what was stored after it.
      const mid = 200;
      assert.deepEqual(q.inbox(u, { since: mid, limit: 1000, unreadOnly: false }).rows.map((n) => n.ts), inbox.get(u)!.filter((s) => s > mid));
    }
    assert.ok([...inbox.values()].every((b) => b.length > 0), `seed ${seed}: every user received something (the test exercises the inboxes)`);
  }
});

test("notify inbox spans - a resubscription does not bring back what was published between", () => {
  const db = new Database(":memory:");
  const model = new NotifyModel();
  model.migrate(db);
  const q = new NotifyQueries(db, model.recent);
  const sub = (seq: number, kind: "subscribed" | "unsubscribed") =>
    model.apply(db, stored(seq, "notify.ev.sub.ana.h", { kind, user_id: "ana", username: "ana", topic: "a.>", channels: ["push"], ts: seq } satisfies SubscriptionEvent));
  const note = (seq: number) => model.apply(db, stored(seq, `notify.ev.note.n_${seq}`, { notification_id: `n_${seq}`, topic: "a.b", title: "t", ts: seq, by: "x" } satisfies NoteEvent));
  note(1);
  sub(2, "subscribed");
  note(3);
  sub(4, "subscribed"); // a change of channels: the same span
  note(5);
  sub(6, "unsubscribed");
  note(7);
  sub(8, "subscribed");
  note(9);
  assert.deepEqual(q.inbox("ana", { limit: 10, unreadOnly: false }).rows.map((n) => n.notification_id), ["n_3", "n_5", "n_9"]);
  assert.deepEqual(q.subscriptions("ana").map((s) => s.topic), ["a.>"]);
});
