// The event log: one record shape for everything that happens (time, type, subtype, content), append-only
// (a trigger refuses updates and deletes), streamed to listeners (the monitor) as it is written.
import type { Db } from "./database.ts";
import type { EventRecord } from "./records.ts";

export class EventLog {
  private readonly insert;
  private readonly listeners = new Set<(e: EventRecord) => void>();

  constructor(private readonly db: Db) {
    this.insert = db.prepare(
      "INSERT INTO events (session_id, t, type, subtype, content) VALUES (?, ?, ?, ?, ?)",
    );
  }

  /** The append-only event log: one record shape (time, type, subtype, content) for everything that happens. */
  append(
    sessionId: string | null,
    type: string,
    subtype: string,
    content: unknown = {},
    t = Date.now(),
  ): number {
    const text = JSON.stringify(content);
    const id = Number(this.insert.run(sessionId, t, type, subtype, text).lastInsertRowid);
    for (const l of this.listeners) l({ id, session_id: sessionId, t, type, subtype, content: text });
    return id;
  }

  /** Called with every event record as it is appended (the monitor streams them). */
  onEvent(listener: (e: EventRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  events(sessionId: string, afterId = 0, limit = 1000): EventRecord[] {
    return this.db
      .prepare("SELECT * FROM events WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?")
      .all(sessionId, afterId, limit) as EventRecord[];
  }

  /** The newest `limit` records of one type, oldest first (the monitor's alerts after a restart). */
  latest(sessionId: string, type: string, limit: number): EventRecord[] {
    const rows = this.db
      .prepare("SELECT * FROM events WHERE session_id = ? AND type = ? ORDER BY id DESC LIMIT ?")
      .all(sessionId, type, limit) as EventRecord[];
    return rows.reverse();
  }
}
