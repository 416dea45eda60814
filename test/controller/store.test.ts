import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { migrations } from "../../controller/store/migrations.ts";
import { SessionStore } from "../../controller/store/store.ts";

const dbFile = () => join(mkdtempSync(join(tmpdir(), "ephys-store-")), "s.db");

function newSession(store: SessionStore, id = "s1") {
  return store.createSession({
    id,
    protocolName: "demo",
    protocolPath: "/p.yaml",
    protocolText: "version: 1\n",
    protocolSha256: "a".repeat(64),
    codeVersion: "0.1.0+test",
    software: { node: process.version },
    seed: 7,
  });
}

describe("session store", () => {
  it("migrates an empty file to the latest version in WAL mode", () => {
    const path = dbFile();
    const store = new SessionStore(path);
    const db = store.db;
    expect(db.pragma("user_version", { simple: true })).toBe(migrations.at(-1)!.version);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>
    ).map((t) => t.name);
    for (const t of [
      "sessions",
      "channels",
      "stimuli",
      "trials",
      "spike_counts",
      "models",
      "selections",
      "check_results",
      "artifacts",
      "events",
    ])
      expect(tables).toContain(t);
    store.close();
    // Reopening does not re-run migrations.
    const again = new SessionStore(path);
    expect(again.db.pragma("user_version", { simple: true })).toBe(migrations.at(-1)!.version);
    again.close();
  });

  it("stores the protocol text and hash with the session", () => {
    const store = new SessionStore(dbFile());
    const row = newSession(store);
    expect(row).toMatchObject({
      protocol_text: "version: 1\n",
      protocol_sha256: "a".repeat(64),
      seed: 7,
      state: "preparing",
    });
    expect(store.events("s1")[0]).toMatchObject({ type: "session", subtype: "created" });
  });

  it("re-inserting the same trial data is a no-op", () => {
    const store = new SessionStore(dbFile());
    newSession(store);
    store.upsertChannels("s1", [{ id: "a", probe: "p", index: 0 }]);
    expect(
      store.recordTrial("s1", {
        trialId: 1,
        phase: 1,
        block: 0,
        stimulusId: "x",
        eventCode: 3,
        status: "pending",
      }),
    ).toBe(true);
    expect(
      store.recordTrial("s1", {
        trialId: 1,
        phase: 1,
        block: 0,
        stimulusId: "y",
        eventCode: 4,
        status: "pending",
      }),
    ).toBe(false);
    expect(
      store.settleTrial("s1", 1, { status: "shown", onsetMs: 10, offsetMs: 210, droppedFrames: 0 }),
    ).toBe(true);
    expect(store.settleTrial("s1", 1, { status: "voided" })).toBe(false);
    const msg = { seq: 1, trialId: 1, channels: [{ channelId: "a", counts: { response: 5, baseline: 1 } }] };
    expect(store.ingest("s1", [msg])).toEqual([true]);
    expect(store.ingest("s1", [msg, { ...msg, seq: 2 }])).toEqual([false, true]);
    const counts = store.counts("s1");
    expect(counts).toHaveLength(1);
    expect(counts[0]).toMatchObject({ stimulus_id: "x", counts: { response: 5, baseline: 1 } });
  });

  it("lastAckedSeq is the contiguous watermark, safe for replays after reordering", () => {
    const store = new SessionStore(dbFile());
    newSession(store);
    const m = (seq: number) => ({ seq, trialId: 1, channels: [] });
    expect(store.lastAckedSeq("s1")).toBe(0);
    store.ingest("s1", [m(2), m(3)]);
    expect(store.lastAckedSeq("s1")).toBe(0);
    store.ingest("s1", [m(1), m(5)]);
    expect(store.lastAckedSeq("s1")).toBe(3);
  });

  it("the event log is append-only", () => {
    const store = new SessionStore(dbFile());
    newSession(store);
    expect(() => store.db.prepare("UPDATE events SET type = 'x'").run()).toThrow(/append-only/);
    expect(() => store.db.prepare("DELETE FROM events").run()).toThrow(/append-only/);
  });

  it("restart voids pending presentations instead of reusing their trial ids", () => {
    const store = new SessionStore(dbFile());
    newSession(store);
    store.recordTrial("s1", {
      trialId: 1,
      phase: 1,
      block: 0,
      stimulusId: "x",
      eventCode: 3,
      status: "pending",
    });
    expect(store.voidPendingTrials("s1", "restart")).toBe(1);
    expect(store.trials("s1")[0].status).toBe("voided");
    expect(store.nextTrialId("s1")).toBe(2);
  });

  it("SIGKILL in the middle of a write burst leaves a sound database with every committed row", async () => {
    const path = dbFile();
    const store = new SessionStore(path);
    newSession(store);
    store.close();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/controller/store-writer.ts", path, "s1"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let lastCommitted = 0;
    let buffer = "";
    await new Promise<void>((resolve) => {
      child.stdout.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        for (const l of lines) lastCommitted = Number(l);
        if (lastCommitted >= 2000 && !child.killed) {
          child.kill("SIGKILL");
          resolve();
        }
      });
    });
    await new Promise((r) => child.once("exit", r));
    const db = new Database(path);
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    const seqs = db.prepare("SELECT COUNT(*) AS n, MAX(seq) AS m FROM acquisition_messages").get() as {
      n: number;
      m: number;
    };
    expect(seqs.m).toBeGreaterThanOrEqual(lastCommitted);
    expect(seqs.n).toBe(seqs.m); // every message up to the last one committed, none half-written
    const rows = db.prepare("SELECT COUNT(*) AS n FROM spike_counts").get() as { n: number };
    expect(rows.n).toBe(seqs.m * 16);
    db.close();
  });
});
