// End to end on loopback: the daemon with a real SQLite file, real WebSockets, the virtual rig box on a real
// pseudo-terminal (socat), the headless display and a simulated acquisition bridge that injects faults.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.ts";
import { startDaemon } from "../../controller/commands/serve.ts";
import type { Daemon } from "../../controller/daemon.ts";
import { silentLogger } from "../../controller/log.ts";
import type { SimulatedTrialTruth } from "../../controller/simulate/bridge.ts";
import { type RunningSimulation, startSimulation } from "../../controller/simulate/run.ts";
import { countInWindows, simulatedProtocol, stall, waitFor } from "./simulated-day.ts";

let daemon: Daemon | undefined;
let sim: RunningSimulation | undefined;
afterEach(async () => {
  await sim?.stop();
  await daemon?.stop();
  sim = undefined;
  daemon = undefined;
});

describe("a simulated day on loopback", () => {
  it("stores every trial exactly once with the simulator's counts, through disconnects, duplicates and reordering", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-day-"));
    const protocolPath = simulatedProtocol(dir, {
      repetitions: 5,
      channels: 32,
      simulation: ["neurons: thumbnail"],
    }); // 40 bodies × 5 = 200 presentations
    const hostPath = join(dir, "box-host");
    const config = loadConfig({ env: {}, flags: { dataDir: dir, port: 0, "rig.serialPath": hostPath } });
    daemon = await startDaemon(config, {
      protocolPath,
      timeScale: 0.01,
      log: silentLogger,
      dataTimeoutMs: 20_000,
      steps: { fit: () => stall() },
    });
    // Stop the day after phase 1: this test is about the rig and the ingest.
    const truth = new Map<number, SimulatedTrialTruth>();
    sim = await startSimulation({
      url: daemon.wsUrl,
      token: daemon.token,
      protocolPath,
      hostPath,
      boxPath: join(dir, "box"),
      faults: { dropEvery: 37, duplicate: 0.1, reorder: 0.1 },
      onTruth: (t) => truth.set(t.trialId, t),
    });
    const d = daemon;
    await waitFor(
      "phase 1 to end",
      () => !d.status().state.startsWith("phase1") && d.status().state !== "preparing",
      120_000,
    );
    expect(d.status().state).not.toBe("failed");

    const store = d.store;
    const trials = store.trials(d.sessionId, 1);
    const shown = trials.filter((t) => t.status === "shown");
    expect(shown).toHaveLength(200);
    const counts = store.counts(d.sessionId, 1);
    expect(counts).toHaveLength(200 * 32); // every shown trial, every channel, once
    const windows = { baseline: { startMs: -75, endMs: 25 }, response: { startMs: 50, endMs: 250 } };
    for (const row of counts) {
      const t = truth.get(row.trial_id)!;
      expect(t.stimulusId).toBe(row.stimulus_id);
      expect(row.counts).toEqual(countInWindows(t.spikes[row.channel_id], windows));
    }
    // The faults really happened, and nothing was counted twice.
    expect(sim.bridge!.connects).toBeGreaterThan(2);
    const msgs = store.db
      .prepare("SELECT COUNT(*) AS n, COUNT(DISTINCT trial_id) AS t FROM acquisition_messages")
      .get() as { n: number; t: number };
    expect(msgs.n).toBe(msgs.t);
    // Every presentation went to the box as an event code, and each completed sequence was rewarded.
    expect(sim.box!.events.length).toBeGreaterThanOrEqual(trials.length);
    expect(sim.box!.rewards.length).toBeGreaterThan(0);
    // Fixation breaks from the box voided presentations, and their stimuli were shown again in the same block.
    const voided = trials.filter((t) => t.status === "voided");
    expect(voided.length).toBeGreaterThan(0);
    for (const v of voided)
      expect(shown.some((t) => t.stimulusId === v.stimulusId && t.block === v.block)).toBe(true);
    const reasons = store
      .events(d.sessionId, 0, 100_000)
      .filter((e) => e.type === "trial" && e.subtype === "voided");
    expect(reasons.length).toBe(voided.length);
    expect(JSON.parse(reasons[0].content).reason).toBe("fixation break");
  }, 180_000);

  it("pauses with the reason when the rig box is unplugged, and goes on after replug and resume", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-unplug-"));
    const protocolPath = simulatedProtocol(dir, {
      repetitions: 2,
      channels: 4,
      simulation: ["neurons: thumbnail"],
    });
    const hostPath = join(dir, "box-host");
    const config = loadConfig({ env: {}, flags: { dataDir: dir, port: 0, "rig.serialPath": hostPath } });
    daemon = await startDaemon(config, {
      protocolPath,
      timeScale: 0.01,
      log: silentLogger,
      steps: { fit: () => stall() },
    });
    sim = await startSimulation({
      url: daemon.wsUrl,
      token: daemon.token,
      protocolPath,
      hostPath,
      boxPath: join(dir, "box"),
    });
    const d = daemon;
    const shownCount = () => d.store.trials(d.sessionId, 1).filter((t) => t.status === "shown").length;
    await waitFor("10 shown trials", () => shownCount() >= 10);
    await sim.box!.unplug();
    await waitFor("the pause", () => d.status().state === "phase1.paused", 10_000);
    expect(d.status().pauseReason).toMatch(/disconnected/);
    const atPause = shownCount();
    expect(d.store.trials(d.sessionId, 1).filter((t) => t.status === "pending")).toHaveLength(0);
    await sim.box!.replug();
    // The box is back and sends its once-a-second FIX heartbeats; the day stays paused until the operator resumes.
    // Two heartbeats later (hundreds of presentations' worth at this speed) nothing was presented.
    await waitFor("the box back", () => d.status().boxConnected);
    const beats = sim.box!.fixationsSent.length;
    await waitFor("two box heartbeats", () => sim!.box!.fixationsSent.length >= beats + 2, 10_000);
    expect(d.status().state).toBe("phase1.paused");
    expect(shownCount()).toBe(atPause); // nothing presented while paused
    const res = await fetch(`${d.url}/api/resume`, {
      method: "POST",
      headers: { authorization: `Bearer ${d.token}` },
    });
    expect(res.status).toBe(200);
    await waitFor("phase 1 to end", () => !d.status().state.startsWith("phase1"), 120_000);
    expect(shownCount()).toBe(80);
  }, 180_000);
});
