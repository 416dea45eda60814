// What a session records with: its channels (fixed by the first acquisition hello) and its stimuli (hashed at
// preparing).
import type { Db } from "./database.ts";
import type { ChannelRecord, StimulusRecord } from "./records.ts";

export class ChannelsAndStimuli {
  constructor(private readonly db: Db) {}

  upsertChannels(sessionId: string, channels: ChannelRecord[]): void {
    const stmt = this.db.prepare(
      "INSERT INTO channels (session_id, id, probe, idx) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET probe = excluded.probe, idx = excluded.idx",
    );
    this.db
      .transaction(() => {
        for (const c of channels) stmt.run(sessionId, c.id, c.probe, c.index);
      })
      .immediate();
  }

  channels(sessionId: string): ChannelRecord[] {
    return (
      this.db
        .prepare("SELECT id, probe, idx FROM channels WHERE session_id = ? ORDER BY idx, id")
        .all(sessionId) as Array<{
        id: string;
        probe: string;
        idx: number;
      }>
    ).map((r) => ({ id: r.id, probe: r.probe, index: r.idx }));
  }

  insertStimuli(sessionId: string, stimuli: StimulusRecord[]): void {
    const stmt = this.db.prepare(
      "INSERT OR IGNORE INTO stimuli (session_id, id, set_id, category, role, path, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.db
      .transaction(() => {
        for (const s of stimuli) stmt.run(sessionId, s.id, s.setId, s.category, s.role, s.path, s.sha256);
      })
      .immediate();
  }

  stimuli(sessionId: string): StimulusRecord[] {
    return this.db
      .prepare(
        "SELECT id, set_id AS setId, category, role, path, sha256 FROM stimuli WHERE session_id = ? ORDER BY rowid",
      )
      .all(sessionId) as StimulusRecord[];
  }
}
