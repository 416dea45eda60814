// What the day decides: the fit's train/validation/test split, the fitted models, the phase-2 selections, and
// the channel checks with their decisions.
import { type Db, now } from "./database.ts";
import type { EventLog } from "./event-log.ts";
import type { CheckResultRecord } from "./records.ts";

export class ResultsTable {
  constructor(
    private readonly db: Db,
    private readonly events: EventLog,
  ) {}

  saveSplits(sessionId: string, splits: Record<string, "train" | "validation" | "test">): void {
    const stmt = this.db.prepare(
      "INSERT INTO splits (session_id, stimulus_id, split) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET split = excluded.split",
    );
    this.db
      .transaction(() => {
        for (const [id, split] of Object.entries(splits)) stmt.run(sessionId, id, split);
      })
      .immediate();
  }

  splits(sessionId: string): Record<string, "train" | "validation" | "test"> {
    const rows = this.db
      .prepare("SELECT stimulus_id, split FROM splits WHERE session_id = ?")
      .all(sessionId) as Array<{
      stimulus_id: string;
      split: "train" | "validation" | "test";
    }>;
    return Object.fromEntries(rows.map((r) => [r.stimulus_id, r.split]));
  }

  saveModels(
    sessionId: string,
    models: Array<{ channelId: string; kind: string; params: unknown; metrics: unknown }>,
  ): void {
    const stmt = this.db.prepare(
      `INSERT INTO models (session_id, channel_id, kind, params, metrics, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET kind = excluded.kind, params = excluded.params, metrics = excluded.metrics,
       created_at = excluded.created_at`,
    );
    this.db
      .transaction(() => {
        for (const m of models)
          stmt.run(
            sessionId,
            m.channelId,
            m.kind,
            JSON.stringify(m.params),
            JSON.stringify(m.metrics),
            now(),
          );
        this.events.append(sessionId, "models", "saved", { channels: models.length });
      })
      .immediate();
  }

  models(sessionId: string): Array<{ channelId: string; kind: string; params: unknown; metrics: unknown }> {
    const rows = this.db
      .prepare(
        "SELECT channel_id, kind, params, metrics FROM models WHERE session_id = ? ORDER BY channel_id",
      )
      .all(sessionId) as Array<Record<string, string>>;
    return rows.map((r) => ({
      channelId: r.channel_id,
      kind: r.kind,
      params: JSON.parse(r.params),
      metrics: JSON.parse(r.metrics),
    }));
  }

  saveSelections(
    sessionId: string,
    choices: Array<{ channelId: string; stimulusId: string; rule: string; score: number | null }>,
  ): void {
    const stmt = this.db.prepare(
      "INSERT OR REPLACE INTO selections (session_id, channel_id, stimulus_id, rule, score) VALUES (?, ?, ?, ?, ?)",
    );
    this.db
      .transaction(() => {
        for (const c of choices) stmt.run(sessionId, c.channelId, c.stimulusId, c.rule, c.score);
        this.events.append(sessionId, "selection", "saved", { choices: choices.length });
      })
      .immediate();
  }

  selections(
    sessionId: string,
  ): Array<{ channelId: string; stimulusId: string; rule: string; score: number | null }> {
    return this.db
      .prepare(
        "SELECT channel_id AS channelId, stimulus_id AS stimulusId, rule, score FROM selections WHERE session_id = ? ORDER BY rowid",
      )
      .all(sessionId) as Array<{ channelId: string; stimulusId: string; rule: string; score: number | null }>;
  }

  saveChecks(
    sessionId: string,
    results: CheckResultRecord[],
    decisions: Array<{ channelId: string; included: boolean; reason: string }>,
  ): void {
    const r = this.db.prepare(
      "INSERT OR REPLACE INTO check_results (session_id, channel_id, name, value, threshold, passed, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const d = this.db.prepare(
      "INSERT OR REPLACE INTO channel_decisions (session_id, channel_id, included, reason) VALUES (?, ?, ?, ?)",
    );
    this.db
      .transaction(() => {
        for (const c of results)
          r.run(
            sessionId,
            c.channelId,
            c.name,
            c.value,
            c.threshold,
            c.passed ? 1 : 0,
            JSON.stringify(c.details),
          );
        for (const c of decisions) d.run(sessionId, c.channelId, c.included ? 1 : 0, c.reason);
        this.events.append(sessionId, "checks", "saved", { channels: decisions.length });
      })
      .immediate();
  }

  checkResults(sessionId: string): CheckResultRecord[] {
    const rows = this.db
      .prepare("SELECT * FROM check_results WHERE session_id = ? ORDER BY channel_id, name")
      .all(sessionId) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      channelId: r.channel_id as string,
      name: r.name as string,
      value: r.value as number | null,
      threshold: r.threshold as number | null,
      passed: r.passed === 1,
      details: JSON.parse(r.details as string),
    }));
  }

  decisions(sessionId: string): Array<{ channelId: string; included: boolean; reason: string }> {
    const rows = this.db
      .prepare(
        "SELECT channel_id, included, reason FROM channel_decisions WHERE session_id = ? ORDER BY channel_id",
      )
      .all(sessionId) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      channelId: r.channel_id as string,
      included: r.included === 1,
      reason: r.reason as string,
    }));
  }
}
