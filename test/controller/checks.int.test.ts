// The checking state on a simulated day: a channel made unstable between phases fails test/retest stability, a
// non-selective channel fails the Mann-Whitney selectivity check, and the decisions survive a daemon restart.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../config/index.ts";
import { startDaemon } from "../../controller/commands/serve.ts";
import type { Daemon } from "../../controller/daemon.ts";
import { silentLogger } from "../../controller/log.ts";
import { type RunningSimulation, startSimulation } from "../../controller/simulate/run.ts";
import { simulatedProtocol, stall, waitFor } from "./simulated-day.ts";

let daemon: Daemon | undefined;
let sim: RunningSimulation | undefined;
afterEach(async () => {
  await sim?.stop();
  await daemon?.stop();
});

describe("channel checks on a simulated day", () => {
  it("fails the unstable channel on stability and the non-selective one on selectivity, and keeps the decisions", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-checks-"));
    const protocolPath = simulatedProtocol(dir, {
      repetitions: 6,
      simulation: ["neurons: thumbnail", "unstableChannels: [1]", "nonSelectiveChannels: [2]"],
      // The test day has 6 phase-2 repetitions; demo.yaml 20 retest images and a peak rate of 200 spikes/s.
      replace: [["fixationBreakRate: 0.05", "fixationBreakRate: 0"]],
    });
    const hostPath = join(dir, "box-host");
    const config = loadConfig({ env: {}, flags: { dataDir: dir, port: 0, "rig.serialPath": hostPath } });
    const start = () =>
      startDaemon(config, {
        protocolPath,
        timeScale: 0.01,
        log: silentLogger,
        steps: { visualize: () => stall() },
      });
    daemon = await start();
    sim = await startSimulation({
      url: daemon.wsUrl,
      token: daemon.token,
      protocolPath,
      hostPath,
      boxPath: join(dir, "box"),
    });
    const d = daemon;
    await waitFor("the checks", () => ["visualizing", "failed"].includes(d.status().state), 240_000);
    expect(d.status().failedReason).toBeNull();

    const results = d.store.checkResults(d.sessionId);
    const get = (ch: string, name: string) => results.find((r) => r.channelId === ch && r.name === name)!;
    expect(results).toHaveLength(8 * 5);
    // Injected faults are caught by the check made for them.
    expect(get("ch002", "stability").passed).toBe(false);
    expect(get("ch003", "selectivity").passed).toBe(false);
    // The checks can pass: stable channels pass stability, and some selective channel passes selectivity.
    const stable = ["ch001", "ch004", "ch005", "ch006", "ch007", "ch008"].filter(
      (c) => get(c, "stability").passed,
    );
    expect(stable.length).toBeGreaterThanOrEqual(4);
    expect(get("ch002", "stability").value!).toBeLessThan(
      Math.min(...stable.map((c) => get(c, "stability").value!)),
    );
    expect(
      ["ch001", "ch004", "ch005", "ch006", "ch007", "ch008"].some((c) => get(c, "selectivity").passed),
    ).toBe(true);
    // Every decision carries its reason and numbers.
    const decisions = d.store.decisions(d.sessionId);
    expect(decisions.find((x) => x.channelId === "ch002")).toMatchObject({ included: false });
    expect(decisions.find((x) => x.channelId === "ch002")!.reason).toContain("stability");
    // One mean per stimulus: the channel's own objects (up to 9; the rules may pick one twice) against its own
    // control bodies.
    const sel = get("ch003", "selectivity").details as { test: string; nObjectStimuli: number };
    expect(sel.test).toBe("Mann-Whitney U, two-sided, on per-stimulus mean net rates (phase 2)");
    expect(sel.nObjectStimuli).toBeGreaterThanOrEqual(4);
    expect(sel.nObjectStimuli).toBeLessThanOrEqual(9);

    // A restarted daemon resumes in the same state with the same decisions.
    const sessionId = d.sessionId;
    await sim.stop();
    sim = undefined;
    await d.stop();
    daemon = await startDaemon(config, {
      timeScale: 0.01,
      log: silentLogger,
      steps: { visualize: () => stall() },
    });
    expect(daemon.sessionId).toBe(sessionId);
    expect(daemon.status().state).toBe("visualizing");
    expect(daemon.store.decisions(sessionId)).toEqual(decisions);
  }, 300_000);
});
