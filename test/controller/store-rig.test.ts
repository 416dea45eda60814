// Schema version 4 (controller/store/migrations.ts, eye-calibrations.ts): a version 3 file opens with its trials
// intact; photodiode edges and the eye are stored per trial beside the display's timing; eye calibrations are
// kept in order, the newest last. Real SQLite files.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { eyeCalibrations, saveEyeCalibration } from "../../controller/store/eye-calibrations.ts";
import { migrations } from "../../controller/store/migrations.ts";
import { SessionStore } from "../../controller/store/store.ts";

const dbFile = () => join(mkdtempSync(join(tmpdir(), "ephys-store-rig-")), "s.db");

function session(store: SessionStore, id: string): void {
  store.createSession({
    id,
    protocolName: "p",
    protocolPath: "/p",
    protocolText: "p",
    protocolSha256: "0".repeat(64),
    codeVersion: "v",
    software: {},
    seed: 1,
  });
}

describe("store: rig box version 2 data", () => {
  it("opens a version 3 file, keeping its trials, with the new columns empty", () => {
    const path = dbFile();
    const raw = new Database(path);
    for (const m of migrations.filter((m) => m.version <= 3)) {
      raw.exec(m.sql);
      m.run?.(raw);
    }
    raw.pragma("user_version = 3");
    raw
      .prepare(
        `INSERT INTO sessions (id, created_at, protocol_name, protocol_path, protocol_text, protocol_sha256,
         code_version, software, seed, state) VALUES ('old', 'x', 'p', 'p', 'p', 'h', 'v', '{}', 1, 'done')`,
      )
      .run();
    raw
      .prepare(
        `INSERT INTO trials (session_id, trial_id, phase, block, stimulus_id, event_code, status, onset_ms, offset_ms,
         dropped_frames, created_at) VALUES ('old', 1, 1, 0, 'a', 1, 'shown', 100, 300, 0, 'x')`,
      )
      .run();
    raw.close();
    const store = new SessionStore(path);
    expect(store.db.pragma("user_version", { simple: true })).toBe(migrations.at(-1)!.version);
    expect(store.trials("old")).toEqual([
      {
        trialId: 1,
        phase: 1,
        block: 0,
        stimulusId: "a",
        eventCode: 1,
        status: "shown",
        onsetMs: 100,
        offsetMs: 300,
        droppedFrames: 0,
        pdOnsetMs: undefined,
        pdOffsetMs: undefined,
        eye: undefined,
        createdAt: "x",
      },
    ]);
    expect(eyeCalibrations(store.db, "old")).toEqual([]);
    store.close();
  });

  it("stores the photodiode edges and the eye of a presentation beside the display's timing", () => {
    const store = new SessionStore(dbFile());
    session(store, "s");
    store.recordTrial("s", {
      trialId: 1,
      phase: 1,
      block: 0,
      stimulusId: "a",
      eventCode: 3,
      status: "pending",
    });
    const eye = { n: 12, meanXDeg: 0.25, meanYDeg: -0.5, sdDeg: 0.125 };
    store.settleTrial("s", 1, {
      status: "shown",
      onsetMs: 1000.5,
      offsetMs: 1200.25,
      droppedFrames: 0,
      pdOnsetMs: 1009.75,
      pdOffsetMs: 1210,
      eye,
    });
    expect(store.trials("s")[0]).toMatchObject({
      onsetMs: 1000.5,
      pdOnsetMs: 1009.75,
      pdOffsetMs: 1210,
      eye,
    });
    store.close();
  });

  it("keeps every calibration of a session in order", () => {
    const store = new SessionStore(dbFile());
    session(store, "s");
    const points = [{ xDeg: 0, yDeg: 0, xMv: 2500, yMv: 2500, n: 15 }];
    expect(
      saveEyeCalibration(store.db, "s", { points, map: [10, 0, -25, 0, 10, -25], rmsDeg: 0.1, maxDeg: 0.2 }),
    ).toBe(1);
    expect(
      saveEyeCalibration(store.db, "s", { points, map: [9, 1, -24, 0, 11, -27], rmsDeg: 0.05, maxDeg: 0.1 }),
    ).toBe(2);
    const all = eyeCalibrations(store.db, "s");
    expect(all.map((c) => [c.id, c.map[0], c.rmsDeg])).toEqual([
      [1, 10, 0.1],
      [2, 9, 0.05],
    ]);
    expect(all[1].points).toEqual(points);
    store.close();
  });
});
