// The control simulation of phase 3's causal test: the virtual rig's neurons with newImages "parent" answer every
// fragment exactly as the image it was cut from, so the highlighted region carries nothing the random regions do
// not. Spikes drawn as the simulated bridge draws them (Poisson, the demo's windows), net rates as the daemon
// computes them, the test as the testing step runs it: over many channels it must not fire more often than α
// (within two binomial standard errors) — and the same neurons without the alias (a highlighted region that really
// doubles the response) must make it fire, so the control is not passing for want of power.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { causalTest } from "../../analysis/fragments/index.ts";
import { mulberry32 } from "../../analysis/random.ts";
import { windowNetRate } from "../../controller/acquisition/windows.ts";
import { poissonTrain } from "../../controller/simulate/bridge.ts";
import { buildGroundTruth } from "../../controller/simulate/neurons.ts";
import { fragmentId } from "../../stimuli/index.ts";

const DEMO = join(import.meta.dirname, "..", "..", "stimuli", "demo");
const WINDOWS = { baseline: { startMs: -75, endMs: 25 }, response: { startMs: 50, endMs: 250 } };
const LATENCY = 60;
const STIMULUS_MS = 200;
const BASELINE = 8;
const REPEATS = 6;
const ALPHA = 0.05;
const CHANNELS = Array.from({ length: 400 }, (_, i) => `ch${String(i + 1).padStart(3, "0")}`);

const manifest = (set: string) =>
  (
    JSON.parse(readFileSync(join(DEMO, set, "manifest.json"), "utf8")) as { images: Array<{ id: string }> }
  ).images
    .slice(0, 6)
    .map((img) => ({ id: `${set}/${img.id}`, path: join(DEMO, set, `${img.id}.png`) }));
const stimuli = [
  ...manifest("bodies").map((s) => ({ ...s, category: "body" })),
  ...manifest("objects").map((s) => ({ ...s, category: "object" })),
];

/** One presentation's net rate (spikes/s): the bridge's Poisson train, counted in the demo's windows. */
function trialRate(random: () => number, rate: number): number {
  const spikes = poissonTrain(random, -100, 300, (t) =>
    t >= LATENCY && t < LATENCY + STIMULUS_MS ? rate : BASELINE,
  );
  const count = (w: { startMs: number; endMs: number }) =>
    spikes.filter((t) => t >= w.startMs && t < w.endMs).length;
  return windowNetRate(count(WINDOWS.response), count(WINDOWS.baseline), WINDOWS);
}

describe("the causal test on a control simulation", () => {
  it("fires no more often than α when the neurons ignore the highlighted region, and does fire when it matters", async () => {
    const truth = await buildGroundTruth({
      channels: CHANNELS,
      stimuli,
      preferredCategory: "body",
      baselineRate: BASELINE,
      peakRate: 120,
      seed: 11,
      newImages: "parent",
    });
    const kinds = ["highlighted", "complement", "random", "random", "random"] as const;
    const fragments = CHANNELS.map((channelId, i) => {
      const parent = stimuli[i % stimuli.length];
      return {
        channelId,
        parent,
        ids: kinds.map((kind, k) =>
          fragmentId({ channelId, kind, n: kind === "random" ? k - 1 : 0, parentId: parent.id }),
        ),
      };
    });
    await truth.addImages(
      fragments.flatMap((f) => f.ids.map((id) => ({ id, category: null, parentId: f.parent.id }))),
    );
    const random = mulberry32(2026);
    let fired = 0;
    let firedWhenItMatters = 0;
    let tested = 0;
    for (const f of fragments) {
      const rate = (id: string) => truth.rate(f.channelId, id, 3);
      // The alias holds: every fragment is answered exactly as its parent.
      for (const id of f.ids) expect(rate(id)).toBe(rate(f.parent.id));
      const trials = (r: number) => Array.from({ length: REPEATS }, () => trialRate(random, r));
      const [h, c, r1, r2, r3] = f.ids.map((id) => trials(rate(id)));
      const responses = { highlighted: h, complement: c, random: [...r1, ...r2, ...r3] };
      const control = causalTest({ ...responses, full: trials(rate(f.parent.id)) }, ALPHA);
      if (control.verdict === "not tested") continue;
      tested++;
      if (control.verdict !== "no difference") fired++;
      // Where the highlighted region carries the response (twice the parent's rate above baseline).
      const driven = trials(BASELINE + 2 * (rate(f.parent.id) - BASELINE));
      if (causalTest({ ...responses, highlighted: driven }, ALPHA).verdict === "highlighted drives more")
        firedWhenItMatters++;
    }
    expect(tested).toBe(CHANNELS.length);
    const se = Math.sqrt((ALPHA * (1 - ALPHA)) / tested);
    expect(fired / tested).toBeLessThanOrEqual(ALPHA + 2 * se);
    expect(firedWhenItMatters / tested).toBeGreaterThan(0.5);
  });
});
