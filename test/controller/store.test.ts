import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { migrations } from "../../controller/store/migrations.ts";
import { countsOf, packCounts, packSpikes, spikesOf, windowTable } from "../../controller/store/packed.ts";
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
      "trial_data",
      "channel_sets",
      "acquisition_messages",
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

  it("tells a repeated seq with the same data (any channel order) from one with other data", () => {
    const store = new SessionStore(dbFile());
    newSession(store);
    const w = windowTable({ baseline: { startMs: -50, endMs: 0 }, response: { startMs: 50, endMs: 150 } });
    const first = packSpikes(1, 4, { a: [-10, 60, 70], b: [] }, w);
    expect(store.ingestPacked("s1", [first])).toMatchObject([{ outcome: "stored" }]);
    const outcomes = store.ingestPacked("s1", [
      packSpikes(1, 4, { b: [], a: [-10, 60, 70] }, w), // same data, other key order
      packSpikes(1, 4, { a: [-10, 60, 70.001], b: [] }, w), // one spike time differs
      packSpikes(1, 4, { a: [-10, 60, 70] }, w), // a channel less
      packSpikes(1, 5, { a: [-10, 60, 70], b: [] }, w), // other trial
      packCounts(1, 4, { a: { baseline: 1, response: 2 }, b: { baseline: 0, response: 0 } }), // counts, same numbers
    ]);
    expect(outcomes.map((o) => o.outcome)).toEqual([
      "duplicate",
      "conflict",
      "conflict",
      "conflict",
      "conflict",
    ]);
    expect(outcomes[3]).toEqual({ outcome: "conflict", storedTrialId: 4 });
    // The stored data are the first message's.
    const [part] = store.trialData("s1", 4);
    expect(part.channelIds).toEqual(["a", "b"]);
    expect([...spikesOf(part, 0)!]).toEqual([-10, 60, 70]);
    expect(countsOf(part, 0)).toEqual({ baseline: 1, response: 2 });
    expect(store.trialData("s1")).toHaveLength(1);
    // Counts messages: window order inside a channel does not matter either.
    store.ingestPacked("s1", [packCounts(2, 5, { a: { baseline: 1, response: 2 } })]);
    expect(store.ingestPacked("s1", [packCounts(2, 5, { a: { response: 2, baseline: 1 } })])).toEqual([
      { outcome: "duplicate" },
    ]);
    expect(store.ingestPacked("s1", [packCounts(2, 5, { a: { response: 3, baseline: 1 } })])[0].outcome).toBe(
      "conflict",
    );
  });

  it("a trial split over messages: each (trial, channel) keeps the first data stored", () => {
    const store = new SessionStore(dbFile());
    newSession(store);
    store.recordTrial("s1", {
      trialId: 1,
      phase: 1,
      block: 0,
      stimulusId: "x",
      eventCode: 1,
      status: "shown",
    });
    const w = windowTable({ baseline: { startMs: -50, endMs: 0 }, response: { startMs: 50, endMs: 150 } });
    const [a] = store.ingestPacked("s1", [packSpikes(1, 1, { p1: [60], p2: [70, 80] }, w)]);
    expect(a.outcome === "stored" && a.part?.channelIds).toEqual(["p1", "p2"]);
    expect(store.trialsWithData("s1", 3).size).toBe(0);
    // The second message repeats p2 with other data and brings p3: only p3 is written.
    const [b] = store.ingestPacked("s1", [packSpikes(2, 1, { p2: [-20], p3: [] }, w)]);
    expect(b.outcome === "stored" && b.part?.channelIds).toEqual(["p3"]);
    const [c] = store.ingestPacked("s1", [packSpikes(3, 1, { p1: [1] }, w)]);
    expect(c).toEqual({ outcome: "stored", part: null, keep: [] });
    expect(a.outcome === "stored" && a.keep).toBeNull();
    expect(b.outcome === "stored" && b.keep).toEqual([1]);
    expect([...store.trialsWithData("s1", 3)]).toEqual([1]);
    expect(store.trialsWithData("s1", 4).size).toBe(0);
    expect(store.counts("s1").map((r) => [r.channel_id, r.counts])).toEqual([
      ["p1", { baseline: 0, response: 1 }],
      ["p2", { baseline: 0, response: 2 }],
      ["p3", { baseline: 0, response: 0 }],
    ]);
    expect(store.lastAckedSeq("s1")).toBe(3);
  });

  it("a batch that fails stores nothing and leaves no trace in the channel-set cache", () => {
    const store = new SessionStore(dbFile());
    newSession(store);
    const w = windowTable({ baseline: { startMs: -50, endMs: 0 }, response: { startMs: 50, endMs: 150 } });
    const broken = { ...packSpikes(3, 5, { z: [1] }, w), counts: null as unknown as Uint32Array };
    expect(() =>
      store.ingestPacked("s1", [
        packSpikes(1, 5, { a: [60], b: [] }, w), // a new channel set, used again by the next message
        packSpikes(2, 5, { b: [1], c: [70] }, w),
        broken,
      ]),
    ).toThrow();
    expect(store.lastAckedSeq("s1")).toBe(0);
    expect(store.trialData("s1")).toEqual([]);
    // The rolled-back set's id is given to another channel list; reads must see the new one.
    store.ingestPacked("s1", [
      packSpikes(1, 6, { x: [60], y: [] }, w),
      packSpikes(2, 6, { y: [5], q: [] }, w),
    ]);
    expect(store.trialData("s1").map((p) => p.channelIds)).toEqual([["x", "y"], ["q"]]);
    expect(store.counts("s1")).toEqual([]); // no trials recorded as shown
  });

  it("migrates version-2 per-channel rows into packed rows with the same counts and spike times", () => {
    const path = dbFile();
    const raw = new Database(path);
    for (const m of migrations.filter((m) => m.version <= 2)) raw.exec(m.sql);
    raw.pragma("user_version = 2");
    raw
      .prepare(
        `INSERT INTO sessions (id, created_at, protocol_name, protocol_path, protocol_text, protocol_sha256,
         code_version, software, seed, state) VALUES ('old', 'x', 'p', 'p', 'p', 'h', 'v', '{}', 1, 'phase1.running')`,
      )
      .run();
    const trial = raw.prepare(
      `INSERT INTO trials (session_id, trial_id, phase, block, stimulus_id, event_code, status, created_at)
       VALUES ('old', ?, 1, 0, ?, 1, ?, 'x')`,
    );
    trial.run(1, "s-a", "shown");
    trial.run(2, "s-b", "shown");
    trial.run(3, "s-c", "voided");
    const row = raw.prepare(
      "INSERT INTO spike_counts (session_id, trial_id, channel_id, counts, spikes) VALUES ('old', ?, ?, ?, ?)",
    );
    const f32 = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);
    row.run(1, "ch2", JSON.stringify({ baseline: 1, response: 4 }), f32([-20.25, 60, 61, 62, 63]));
    row.run(1, "ch1", JSON.stringify({ baseline: 0, response: 0 }), f32([]));
    // Trial 2: one channel from a counts message with its own window names, one with spike times.
    row.run(2, "ch1", JSON.stringify({ response: 7, late: 2 }), null);
    row.run(2, "ch2", JSON.stringify({ baseline: 3, response: 1 }), f32([-1, -2, -3, 70.5]));
    row.run(3, "ch1", JSON.stringify({ baseline: 9, response: 9 }), null);
    raw
      .prepare(
        "INSERT INTO acquisition_messages (session_id, seq, trial_id, received_at) VALUES ('old', 1, 1, 'x')",
      )
      .run();
    raw.close();

    const store = new SessionStore(path);
    expect(store.db.pragma("user_version", { simple: true })).toBe(migrations.at(-1)!.version);
    const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{
      name: string;
    }>;
    expect(tables.map((t) => t.name)).not.toContain("spike_counts");
    expect(store.counts("old").map((r) => [r.trial_id, r.channel_id, r.stimulus_id, r.counts])).toEqual([
      [1, "ch1", "s-a", { baseline: 0, response: 0 }],
      [1, "ch2", "s-a", { baseline: 1, response: 4 }],
      [2, "ch1", "s-b", { response: 7, late: 2 }],
      [2, "ch2", "s-b", { baseline: 3, response: 1 }],
    ]);
    const spikes = store
      .trialData("old")
      .flatMap((p) =>
        p.channelIds.map((id, c) => [p.trialId, id, p.seq, spikesOf(p, c) && [...spikesOf(p, c)!]]),
      );
    expect(spikes).toEqual([
      [1, "ch1", null, []],
      [1, "ch2", null, [-20.25, 60, 61, 62, 63]],
      [2, "ch2", null, [-1, -2, -3, 70.5]],
      [2, "ch1", null, undefined],
      [3, "ch1", null, undefined],
    ]);
    expect([...store.trialsWithData("old", 2)].sort()).toEqual([1, 2]);
    // An old message has no digest: repeating its seq is a duplicate, whatever it carries.
    expect(store.ingestPacked("old", [packCounts(1, 1, { ch1: { response: 99 } })])).toEqual([
      { outcome: "duplicate" },
    ]);
    expect(store.integrityCheck()).toBe("ok");
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
    const rows = db.prepare("SELECT COUNT(*) AS n, SUM(n_channels) AS c FROM trial_data").get() as {
      n: number;
      c: number;
    };
    expect(rows).toEqual({ n: seqs.m, c: seqs.m * 16 });
    db.close();
  });
});
