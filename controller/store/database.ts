// Opening the session database: better-sqlite3 in WAL mode with synchronous FULL (an ack promises durability,
// also across power loss), and the schema brought up to date (migrations.ts). Every write transaction of the store
// begins IMMEDIATE: two connections write (the store's and the ingest writer thread's), and a deferred transaction
// that reads first and then writes gets SQLITE_BUSY at once, without the busy timeout, when the other connection
// committed in between.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { migrations } from "./migrations.ts";

export type Db = Database.Database;

/** Now as the store writes times: ISO 8601, UTC. */
export const now = () => new Date().toISOString();

export function openDatabase(path: string): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL"); // an ack promises durability, also across power loss
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

export function migrate(db: Db): number {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      m.run?.(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return db.pragma("user_version", { simple: true }) as number;
}
