// The eye_calibrations table (schema version 4): every accepted eye calibration of a session, in order; the newest
// is the one the rig box uses (sent again whenever the box says HELLO).
import type { EyeMap } from "../wire/rig-lines.ts";
import type { Db } from "./database.ts";

export interface CalibrationPoint {
  /** The target, degrees from the screen centre (right and up positive). */
  xDeg: number;
  yDeg: number;
  /** The eye inputs at the pins while the subject looked at it (mean of n EYE samples), mV. */
  xMv: number;
  yMv: number;
  n: number;
}

export interface StoredCalibration {
  id: number;
  createdAt: string;
  points: CalibrationPoint[];
  map: EyeMap;
  rmsDeg: number;
  maxDeg: number;
}

/** Stores a calibration as the session's newest; returns its id. */
export function saveEyeCalibration(
  db: Db,
  sessionId: string,
  c: Omit<StoredCalibration, "id" | "createdAt">,
): number {
  return db.transaction(() => {
    const { next } = db
      .prepare("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM eye_calibrations WHERE session_id = ?")
      .get(sessionId) as { next: number };
    db.prepare(
      `INSERT INTO eye_calibrations (session_id, id, created_at, points, map, rms_deg, max_deg)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      sessionId,
      next,
      new Date().toISOString(),
      JSON.stringify(c.points),
      JSON.stringify(c.map),
      c.rmsDeg,
      c.maxDeg,
    );
    return next;
  })();
}

/** The session's calibrations, oldest first. */
export function eyeCalibrations(db: Db, sessionId: string): StoredCalibration[] {
  const rows = db
    .prepare("SELECT * FROM eye_calibrations WHERE session_id = ? ORDER BY id")
    .all(sessionId) as Array<{
    id: number;
    created_at: string;
    points: string;
    map: string;
    rms_deg: number;
    max_deg: number;
  }>;
  return rows.map((r) => ({
    id: r.id,
    createdAt: r.created_at,
    points: JSON.parse(r.points) as CalibrationPoint[],
    map: JSON.parse(r.map) as EyeMap,
    rmsDeg: r.rms_deg,
    maxDeg: r.max_deg,
  }));
}
