import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { sql } from "../src/statements.ts";

test("sql - a text is prepared once per database and the statement reused; another database gets its own", () => {
  const a = new Database(":memory:");
  const b = new Database(":memory:");
  for (const db of [a, b]) db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
  const insert = "INSERT INTO t (k, v) VALUES (?, ?)";
  assert.equal(sql(a, insert), sql(a, insert));
  assert.notEqual(sql(a, insert), sql(b, insert));
  sql(a, insert).run(1, "one");
  sql(b, insert).run(1, "uno");
  assert.equal(sql(a, "SELECT v FROM t WHERE k = ?").pluck().get(1), "one");
  assert.equal(sql(b, "SELECT v FROM t WHERE k = ?").pluck().get(1), "uno");
  a.close();
  b.close();
});

test("sql - texts built from a varying count stay bounded: past the limit the cache starts over, and still answers", () => {
  const db = new Database(":memory:");
  db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)");
  const first = sql(db, "SELECT count(*) FROM t");
  for (let n = 1; n <= 600; n++) sql(db, `SELECT k FROM t WHERE k IN (${Array(n).fill("?").join(",")})`);
  assert.notEqual(sql(db, "SELECT count(*) FROM t"), first, "dropped when the cache started over");
  assert.equal(sql(db, "SELECT count(*) FROM t").pluck().get(), 0);
  db.close();
});
