// The trials table: every presentation, stored pending before it is announced, then settled as shown (with its
// onsets, dropped frames, photodiode and eye) or voided (with the reason, also in the event log).

import type { EyeSummary } from "../../analysis/eye/index.ts";
import { type Db, now } from "./database.ts";
import type { EventLog } from "./event-log.ts";
import type { TrialRecord } from "./records.ts";

export class TrialsTable {
  private readonly insert;
  private readonly info;

  constructor(
    private readonly db: Db,
    private readonly events: EventLog,
  ) {
    this.info = db.prepare(
      "SELECT phase, stimulus_id, status FROM trials WHERE session_id = ? AND trial_id = ?",
    );
    this.insert = db.prepare(
      `INSERT OR IGNORE INTO trials (session_id, trial_id, phase, block, stimulus_id, event_code, status,
           onset_ms, offset_ms, dropped_frames, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  /**
   * Settle a pending presentation: shown (with its display timing) or voided (fixation break, restart).
   * Only a pending trial changes; settling twice is a no-op.
   */
  settleTrial(
    sessionId: string,
    trialId: number,
    outcome: {
      status: "shown" | "voided";
      onsetMs?: number;
      offsetMs?: number;
      droppedFrames?: number;
      pdOnsetMs?: number;
      pdOffsetMs?: number;
      eye?: EyeSummary;
      reason?: string;
    },
  ): boolean {
    return this.db
      .transaction(() => {
        const r = this.db
          .prepare(
            `UPDATE trials SET status = ?, onset_ms = ?, offset_ms = ?, dropped_frames = ?, pd_onset_ms = ?,
             pd_offset_ms = ?, eye_n = ?, eye_mean_x_deg = ?, eye_mean_y_deg = ?, eye_sd_deg = ?
           WHERE session_id = ? AND trial_id = ? AND status = 'pending'`,
          )
          .run(
            outcome.status,
            outcome.onsetMs ?? null,
            outcome.offsetMs ?? null,
            outcome.droppedFrames ?? null,
            outcome.pdOnsetMs ?? null,
            outcome.pdOffsetMs ?? null,
            outcome.eye?.n ?? null,
            outcome.eye?.meanXDeg ?? null,
            outcome.eye?.meanYDeg ?? null,
            outcome.eye?.sdDeg ?? null,
            sessionId,
            trialId,
          );
        if (r.changes > 0 && outcome.status === "voided")
          this.events.append(sessionId, "trial", "voided", { trialId, reason: outcome.reason ?? "" });
        return r.changes > 0;
      })
      .immediate();
  }

  /** After a restart: presentations that were announced but never settled are voided, never reused. */
  voidPendingTrials(sessionId: string, reason: string): number {
    const ids = this.db
      .prepare("SELECT trial_id FROM trials WHERE session_id = ? AND status = 'pending'")
      .all(sessionId) as Array<{ trial_id: number }>;
    for (const { trial_id } of ids) this.settleTrial(sessionId, trial_id, { status: "voided", reason });
    return ids.length;
  }

  nextTrialId(sessionId: string): number {
    const r = this.db
      .prepare("SELECT MAX(trial_id) AS m FROM trials WHERE session_id = ?")
      .get(sessionId) as { m: number | null };
    return (r.m ?? 0) + 1;
  }

  /** Record a presentation (normally as pending, before it is announced); the same trial id twice is a no-op. */
  recordTrial(sessionId: string, t: TrialRecord): boolean {
    const r = this.insert.run(
      sessionId,
      t.trialId,
      t.phase,
      t.block,
      t.stimulusId,
      t.eventCode,
      t.status,
      t.onsetMs ?? null,
      t.offsetMs ?? null,
      t.droppedFrames ?? null,
      now(),
    );
    return r.changes > 0;
  }

  trials(sessionId: string, phase?: 1 | 2 | 3): Array<TrialRecord & { createdAt: string }> {
    const rows = this.db
      .prepare(
        `SELECT trial_id, phase, block, stimulus_id, event_code, status, onset_ms, offset_ms, dropped_frames,
           pd_onset_ms, pd_offset_ms, eye_n, eye_mean_x_deg, eye_mean_y_deg, eye_sd_deg, created_at
         FROM trials WHERE session_id = ? ${phase ? "AND phase = ?" : ""} ORDER BY trial_id`,
      )
      .all(...(phase ? [sessionId, phase] : [sessionId])) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      trialId: r.trial_id as number,
      phase: r.phase as 1 | 2 | 3,
      block: r.block as number,
      stimulusId: r.stimulus_id as string,
      eventCode: r.event_code as number,
      status: r.status as TrialRecord["status"],
      onsetMs: (r.onset_ms as number | null) ?? undefined,
      offsetMs: (r.offset_ms as number | null) ?? undefined,
      droppedFrames: (r.dropped_frames as number | null) ?? undefined,
      pdOnsetMs: (r.pd_onset_ms as number | null) ?? undefined,
      pdOffsetMs: (r.pd_offset_ms as number | null) ?? undefined,
      eye:
        r.eye_n === null
          ? undefined
          : {
              n: r.eye_n as number,
              meanXDeg: r.eye_mean_x_deg as number,
              meanYDeg: r.eye_mean_y_deg as number,
              sdDeg: r.eye_sd_deg as number,
            },
      createdAt: r.created_at as string,
    }));
  }

  /** One trial's phase, stimulus and status (the monitor's per-message lookup; a prepared statement). */
  trialInfo(
    sessionId: string,
    trialId: number,
  ): { phase: 1 | 2 | 3; stimulusId: string; status: string } | null {
    const r = this.info.get(sessionId, trialId) as
      | { phase: 1 | 2 | 3; stimulus_id: string; status: string }
      | undefined;
    return r ? { phase: r.phase, stimulusId: r.stimulus_id, status: r.status } : null;
  }
}
