import { test } from "node:test";
import assert from "node:assert/strict";
import { NotifyRepeats } from "../src/notify-repeats.ts";

const ev = (id: string) => ({ event: "notify.event", data: { notification_id: id } });

test("notify repeats - a repeat is dropped, other events pass, memory stays bounded", () => {
  const r = new NotifyRepeats(3);
  assert.equal(r.accept(ev("a")), true);
  assert.equal(r.accept(ev("a")), false);
  assert.equal(r.accept({ event: "chat.message", data: { notification_id: "a" } }), true);
  for (const id of ["b", "c", "d"]) assert.equal(r.accept(ev(id)), true);
  assert.equal(r.size, 3, "the oldest id was forgotten");
  assert.equal(r.accept(ev("d")), false);
  assert.equal(r.accept(ev("a")), true, "an id beyond the window passes again");
});
