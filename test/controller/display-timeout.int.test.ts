// A display that does not report some presentations, against a real daemon over a real WebSocket: each show it
// ignores voids that presentation only (re-queued in its block, a display/timeout warning record), a success
// resets the run, and only rig.maxConsecutiveDisplayTimeouts ignored shows in a row fail the phase. A display that
// goes away mid-show voids that presentation, and the phase goes on with the next display that connects.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { loadConfig } from "../../config/index.ts";
import { Daemon } from "../../controller/daemon.ts";
import { DisplayLink } from "../../controller/display/display-link.ts";
import { silentLogger } from "../../controller/log.ts";
import { simulatedProtocol, stall, waitFor } from "./simulated-day.ts";

let daemon: Daemon | undefined;
let display: WebSocket | undefined;
afterEach(async () => {
  display?.close();
  await daemon?.stop();
  daemon = undefined;
  display = undefined;
});

/** A minimal display client: preloads nothing, answers each show after its duration unless `ignore(n)` says so. */
function connectDisplay(
  d: Daemon,
  ignore: (n: number) => boolean,
): { shows: Array<{ trialId: number; stimulusId: string }> } {
  const shows: Array<{ trialId: number; stimulusId: string }> = [];
  const ws = new WebSocket(`${d.wsUrl}/display`);
  display = ws;
  ws.on("open", () =>
    ws.send(
      JSON.stringify({
        type: "hello",
        role: "display",
        version: 1,
        token: d.token,
        screen: { width: 800, height: 600, refreshHz: 60 },
      }),
    ),
  );
  ws.on("message", (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.type === "preload") ws.send(JSON.stringify({ type: "preloaded", ok: true, failed: [] }));
    if (m.type !== "show") return;
    shows.push({ trialId: m.trialId, stimulusId: m.stimulusId });
    if (ignore(shows.length)) return;
    const onset = Date.now();
    setTimeout(() => {
      if (ws.readyState === ws.OPEN)
        ws.send(
          JSON.stringify({ type: "shown", trialId: m.trialId, onset, offset: Date.now(), droppedFrames: 0 }),
        );
    }, m.durationMs);
  });
  return { shows };
}

async function startDay(maxTimeouts: number): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), "ephys-display-timeout-"));
  const protocolPath = simulatedProtocol(dir, { repetitions: 1 });
  const config = loadConfig({
    env: {},
    flags: { dataDir: dir, port: 0, "rig.maxConsecutiveDisplayTimeouts": String(maxTimeouts) },
  });
  const d = new Daemon({
    config,
    log: silentLogger,
    protocolPath,
    timeScale: 0.01,
    dataTimeoutMs: 200, // no acquisition bridge in this test
    steps: { fit: () => stall() },
    // The page's margin is 2 s; 300 ms keeps the test short.
    createDisplay: (ws, hello) => new DisplayLink(ws, hello.screen, { showTimeoutMarginMs: 300 }),
  });
  await d.start();
  daemon = d;
  return d;
}

const events = (d: Daemon, type: string, subtype: string) =>
  d.store
    .events(d.sessionId, 0, 100_000)
    .filter((e) => e.type === type && e.subtype === subtype)
    .map((e) => JSON.parse(e.content));

describe("display show timeouts", () => {
  it("void only the presentations the display ignored; the phase completes with every stimulus shown once", async () => {
    const d = await startDay(3);
    // Ignored: shows 5 and 6 (a run of two), then 8 and 9 after a good one — never three in a row.
    const ignored = new Set([5, 6, 8, 9]);
    const { shows } = connectDisplay(d, (n) => ignored.has(n));
    await waitFor(
      "phase 1 to end",
      () => !d.status().state.startsWith("phase1") && d.status().state !== "preparing",
    );
    expect(d.status().state).toBe("fitting");
    const trials = d.store.trials(d.sessionId, 1);
    const voided = trials.filter((t) => t.status === "voided");
    const ignoredTrials = shows.filter((_, i) => ignored.has(i + 1));
    expect(voided.map((t) => t.trialId)).toEqual(ignoredTrials.map((s) => s.trialId));
    expect(events(d, "trial", "voided").map((c) => c.reason)).toEqual(Array(4).fill("display timeout"));
    expect(events(d, "display", "timeout").map((c) => [c.trialId, c.consecutive, c.limit])).toEqual([
      [ignoredTrials[0].trialId, 1, 3],
      [ignoredTrials[1].trialId, 2, 3],
      [ignoredTrials[2].trialId, 1, 3],
      [ignoredTrials[3].trialId, 2, 3],
    ]);
    // Each stimulus shown exactly once (one repetition), the ignored ones again later in the same block.
    const shown = trials.filter((t) => t.status === "shown");
    const stimuli = d.store.stimuli(d.sessionId).filter((s) => s.role === "preferred");
    expect(shown.map((t) => t.stimulusId).sort()).toEqual(stimuli.map((s) => s.id).sort());
    for (const v of voided) {
      const again = shown.find((t) => t.stimulusId === v.stimulusId)!;
      expect(again.trialId).toBeGreaterThan(v.trialId);
      expect(again.block).toBe(v.block);
    }
  }, 120_000);

  it("fail the phase after the configured number of timeouts in a row, naming them", async () => {
    const d = await startDay(3);
    const { shows } = connectDisplay(d, (n) => n >= 4);
    await waitFor("the day to fail", () => d.status().state === "failed");
    const reason = d.status().failedReason ?? "";
    const ignoredTrials = shows.slice(3, 6).map((s) => s.trialId);
    expect(reason).toContain(
      `the display did not report 3 presentations in a row (trials ${ignoredTrials.join(", ")}; ` +
        "limit rig.maxConsecutiveDisplayTimeouts = 3)",
    );
    expect(events(d, "display", "timeout").map((c) => c.consecutive)).toEqual([1, 2, 3]);
    expect(d.store.trials(d.sessionId, 1).filter((t) => t.status === "shown")).toHaveLength(3);
  }, 120_000);
});

describe("a display that goes away mid-show", () => {
  it("voids the presentation on screen, waits for a display, preloads again and completes the phase", async () => {
    const d = await startDay(3);
    // The first display closes its socket when the 4th show arrives, without answering it.
    const first = connectDisplay(d, (n) => {
      if (n === 4) setImmediate(() => display?.terminate());
      return n === 4;
    });
    await waitFor("the display loss", () => events(d, "display", "lost").length === 1);
    const lost = events(d, "display", "lost")[0];
    expect(lost.trialId).toBe(first.shows[3].trialId);
    // The phase waits; a new display is preloaded and takes over.
    let preloads = 0;
    const second = connectDisplay(d, () => false);
    display!.on("message", (raw) => {
      if (JSON.parse(raw.toString()).type === "preload") preloads++;
    });
    await waitFor(
      "phase 1 to end",
      () => !d.status().state.startsWith("phase1") && d.status().state !== "preparing",
    );
    expect(d.status().state).toBe("fitting");
    expect(preloads).toBe(1);
    const trials = d.store.trials(d.sessionId, 1);
    expect(trials.filter((t) => t.status === "voided").map((t) => t.trialId)).toEqual([lost.trialId]);
    const shown = trials.filter((t) => t.status === "shown");
    const stimuli = d.store.stimuli(d.sessionId).filter((s) => s.role === "preferred");
    expect(shown.map((t) => t.stimulusId).sort()).toEqual(stimuli.map((s) => s.id).sort());
    expect(second.shows.length).toBe(stimuli.length - 3);
  }, 120_000);
});
