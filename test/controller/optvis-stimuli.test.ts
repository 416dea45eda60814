// The protocol option selection.synthesized on a real SessionStore with the w8 ResNet-18 fixture: after the phase-2
// selection, each channel's top synthesized images become stimuli (role "synthesized", hashed files) and phase-2
// selections of their channel (rule "synthesized", score = predicted response); the step runs once (a restart does
// not add them again) and is a no-op at 0; the report shows predicted vs recorded for the ones recorded in phase 2.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildReport } from "../../analysis/report/index.ts";
import { stepContext } from "../../controller/day/context.ts";
import { assembleReportData } from "../../controller/day/steps/report.ts";
import { synthesizedId, synthesizedStimuliStep } from "../../controller/day/steps/synthesize.ts";
import { silentLogger } from "../../controller/log.ts";
import { SessionStore } from "../../controller/store/store.ts";
import { parseProtocol } from "../../protocols/load.ts";
import { sha256File } from "../../stimuli/hash.ts";
import {
  createDemoSession,
  DEMO_PROTOCOL,
  saveReadouts,
  smallDemoProtocol,
  w8Config,
} from "./stored-session.ts";

const dir = mkdtempSync(join(tmpdir(), "optvis-stimuli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function protocolText(synthesized: number): string {
  const text = smallDemoProtocol()
    .replace("synthesized: 0", `synthesized: ${synthesized}`)
    .replace("simulation:", "synthesis:\n  steps: 6\n  images: 3\n  seed: 5\n\nsimulation:");
  expect(text).toContain(`synthesized: ${synthesized}`);
  return text;
}

const config = w8Config(dir);

function session(sessionId: string, synthesized: number) {
  const store = new SessionStore(join(dir, "ephysloop.db"));
  const text = protocolText(synthesized);
  createDemoSession(store, sessionId, text);
  store.upsertChannels(sessionId, [
    { id: "ch1", probe: "A", index: 0 },
    { id: "ch2", probe: "A", index: 1 },
  ]);
  saveReadouts(
    store,
    sessionId,
    ["ch1", "ch2"].map((channelId, k) => ({
      channelId,
      location: [0.25 - 0.5 * k, 0],
      sigma: [0.1, 0.1],
      weights: Array.from({ length: 64 }, (_, i) => (i % 4 === k ? Math.cos(i + k) : 0)),
      bias: 1,
      bestEpoch: 0,
      valLossCurve: [1],
      testR: 0.5,
    })),
  );
  const loaded = {
    protocol: parseProtocol(text),
    text,
    sha256: "0".repeat(64),
    path: DEMO_PROTOCOL,
  };
  return { store, ctx: stepContext({ store, sessionId, loaded, config, log: silentLogger }) };
}

describe("selection.synthesized", () => {
  it("adds each channel's top synthesized images to phase 2, once; the report shows predicted vs recorded", async () => {
    const { store, ctx } = session("s1", 2);
    const ids = await synthesizedStimuliStep(ctx);
    expect(ids.sort()).toEqual(
      [
        synthesizedId("ch1", 1),
        synthesizedId("ch1", 2),
        synthesizedId("ch2", 1),
        synthesizedId("ch2", 2),
      ].sort(),
    );
    const stimuli = store.stimuli("s1").filter((s) => s.role === "synthesized");
    expect(stimuli).toHaveLength(4);
    for (const s of stimuli) {
      expect(s).toMatchObject({ setId: "synthesized", category: "synthesized" });
      expect(s.sha256).toBe(await sha256File(s.path));
    }
    const artifacts = store.artifacts("s1", "optvis");
    expect(artifacts).toHaveLength(2);
    const choices = store.selections("s1").filter((c) => c.rule === "synthesized");
    expect(choices).toHaveLength(4);
    for (const a of artifacts) {
      const meta = a.meta as {
        images: Array<{ rank: number; file: string; predicted: number }>;
        steps: number;
      };
      // 3 images optimized per channel (synthesis.images), the top 2 kept, ranked by predicted response.
      expect(meta.images.map((i) => i.rank)).toEqual([1, 2, 3]);
      expect(meta.steps).toBe(6);
      for (const rank of [1, 2]) {
        const c = choices.find((x) => x.stimulusId === synthesizedId(a.channelId!, rank))!;
        expect(c.channelId).toBe(a.channelId);
        expect(c.score).toBeCloseTo(meta.images[rank - 1].predicted, 6);
        const s = stimuli.find((x) => x.id === c.stimulusId)!;
        expect(s.path).toBe(join(a.path!, meta.images[rank - 1].file));
      }
      expect(meta.images[0].predicted).toBeGreaterThanOrEqual(meta.images[1].predicted);
      const summary = JSON.parse(readFileSync(join(a.path!, "optvis.json"), "utf8"));
      expect(summary.settings).toMatchObject({ steps: 6, images: 3, seed: 5, size: 64 });
    }
    // A restart re-runs the step: nothing is added twice.
    expect(await synthesizedStimuliStep(ctx)).toEqual([]);
    expect(store.artifacts("s1", "optvis")).toHaveLength(2);
    expect(store.selections("s1").filter((c) => c.rule === "synthesized")).toHaveLength(4);

    // Phase 2 shows ch1's best image twice: 6 and 8 spikes in the 200 ms response window, none at baseline.
    const shown = synthesizedId("ch1", 1);
    for (const [t, n] of [
      [1, 6],
      [2, 8],
    ]) {
      store.recordTrial("s1", {
        trialId: t,
        phase: 2,
        block: t,
        stimulusId: shown,
        eventCode: 90,
        status: "shown",
      });
      store.ingest("s1", [
        {
          seq: t,
          trialId: t,
          channels: ["ch1", "ch2"].map((channelId) => ({ channelId, counts: { baseline: 0, response: n } })),
        },
      ]);
    }
    const data = await assembleReportData(store, "s1", { config, protocol: ctx.loaded.protocol });
    const section = data.optionalAnalyses.find((o) => o.kind === "optvis")!;
    expect(section.title).toBe("Feature visualization");
    const ch1 = section.items.find((i) => i.channelId === "ch1")!;
    const predicted = (
      artifacts.find((a) => a.channelId === "ch1")!.meta as { images: Array<{ predicted: number }> }
    ).images[0].predicted;
    // Net rate = response count / 0.2 s − 0 = 30 and 40 spikes/s: mean 35.
    expect(ch1.images.map((i) => i.caption)).toEqual([
      `synth-1.png: predicted ${predicted.toFixed(1)} spikes/s, recorded 35.0 spikes/s (2 trials)`,
      expect.stringMatching(/^synth-2\.png: predicted -?\d+\.\d spikes\/s, not yet recorded$/),
      expect.stringMatching(/^synth-3\.png: predicted -?\d+\.\d spikes\/s \(not a phase-2 stimulus\)$/),
    ]);
    const html = await buildReport(data);
    expect(html).toContain("recorded 35.0 spikes/s (2 trials)");
    store.close();
  }, 120_000);

  it("does nothing at selection.synthesized = 0", async () => {
    const { store, ctx } = session("s0", 0);
    expect(await synthesizedStimuliStep(ctx)).toEqual([]);
    expect(store.artifacts("s0", "optvis")).toEqual([]);
    expect(store.stimuli("s0")).toEqual([]);
    store.close();
  });
});
