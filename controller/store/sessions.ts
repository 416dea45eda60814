// The sessions table: one row per recording day — its protocol (text and hash), provenance, and the day machine's
// persisted snapshot and state.
import { type Db, now } from "./database.ts";
import type { EventLog } from "./event-log.ts";
import type { NewSession, SessionRow } from "./records.ts";

export class SessionsTable {
  constructor(
    private readonly db: Db,
    private readonly events: EventLog,
  ) {}

  createSession(s: NewSession): SessionRow {
    this.db
      .transaction(() => {
        this.db
          .prepare(
            `INSERT INTO sessions (id, created_at, protocol_name, protocol_path, protocol_text, protocol_sha256,
             code_version, software, seed, rig, subject, probe, depth_um, region, state)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'preparing')`,
          )
          .run(
            s.id,
            now(),
            s.protocolName,
            s.protocolPath,
            s.protocolText,
            s.protocolSha256,
            s.codeVersion,
            JSON.stringify(s.software),
            s.seed,
            s.rig ?? null,
            s.subject ?? null,
            s.probe ?? null,
            s.depthUm ?? null,
            s.region ?? null,
          );
        this.events.append(s.id, "session", "created", {
          protocol: s.protocolName,
          sha256: s.protocolSha256,
        });
      })
      .immediate();
    return this.getSession(s.id)!;
  }

  getSession(id: string): SessionRow | undefined {
    return this.db.prepare("SELECT * FROM sessions WHERE id = ?").get(id) as SessionRow | undefined;
  }

  listSessions(): SessionRow[] {
    return this.db.prepare("SELECT * FROM sessions ORDER BY created_at DESC").all() as SessionRow[];
  }

  /** The newest session that has not ended (done, failed, aborted), to resume after a restart. */
  resumableSession(): SessionRow | undefined {
    return this.db
      .prepare(
        "SELECT * FROM sessions WHERE state NOT IN ('done', 'failed', 'aborted') ORDER BY created_at DESC LIMIT 1",
      )
      .get() as SessionRow | undefined;
  }

  /** Persist the machine snapshot with every transition, together with its event record. */
  /**
   * Persist the day machine's snapshot and its state. The day has ended once it reports (reporting, failing,
   * aborting) or reached a final state: ended_at is set then, once.
   */
  saveSnapshot(
    sessionId: string,
    state: string,
    snapshot: unknown,
    failedReason?: string,
    abortedBy?: string,
  ): void {
    this.db
      .transaction(() => {
        const ending = ["reporting", "failing", "aborting", "done", "failed", "aborted"];
        const ended = ending.includes(state) ? now() : null;
        this.db
          .prepare(
            `UPDATE sessions SET state = ?, snapshot = ?, failed_reason = COALESCE(?, failed_reason),
             aborted_by = COALESCE(?, aborted_by), started_at = COALESCE(started_at, ?),
             ended_at = COALESCE(?, ended_at) WHERE id = ?`,
          )
          .run(
            state,
            JSON.stringify(snapshot),
            failedReason ?? null,
            abortedBy ?? null,
            now(),
            ended,
            sessionId,
          );
        this.events.append(sessionId, "state", state, failedReason ? { reason: failedReason } : {});
      })
      .immediate();
  }

  setWeightsHash(sessionId: string, sha256: string): void {
    this.db.prepare("UPDATE sessions SET weights_sha256 = ? WHERE id = ?").run(sha256, sessionId);
  }
}
