// The report's shared-features panels (analysis/report/shared-features-section.ts) and the silhouette mass behind
// them (analysis/saliency/mask-mass.ts): numbers worked out by hand here, not by the code under test.
import { describe, expect, it } from "vitest";
import {
  boundBars,
  readoutMarker,
  sharedFeaturesSection,
} from "../../analysis/report/shared-features-section.ts";
import type { ReportData, ReportSharedFeature } from "../../analysis/report/types.ts";
import { dilateMask, massOnMask } from "../../analysis/saliency/mask-mass.ts";

describe("massOnMask and dilateMask", () => {
  it("gives the share of Σ_c|I_c| on the mask and the mask's share of the image", () => {
    // 2×3 map, 3 channels: pixel intensities 1, 2, 3 / 4, 5, 6 (signs do not matter: |I_c| is summed).
    const map = [1, 0, 0, 0, -2, 0, 1, 1, 1, 4, 0, 0, 0, 0, -5, 2, 2, 2];
    const mask = [1, 0, 0, 0, 1, 1];
    const m = massOnMask(map, 2, 3, mask);
    expect(m.onMask).toBeCloseTo((1 + 5 + 6) / 21, 12);
    expect(m.maskArea).toBeCloseTo(3 / 6, 12);
    expect(massOnMask(new Array(18).fill(0), 2, 3, mask).onMask).toBe(0);
    expect(() => massOnMask(map, 2, 3, [1, 0])).toThrow(/mask\.length: expected 2×3 = 6; found 2/);
  });

  it("grows a mask by a square of the radius, clipped at the border", () => {
    const mask = new Uint8Array(25);
    mask[2 * 5 + 2] = 1; // the centre of 5×5
    expect(Array.from(dilateMask(mask, 5, 5, 1))).toEqual([
      0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    ]);
    const corner = new Uint8Array(25);
    corner[0] = 1;
    expect(Array.from(dilateMask(corner, 5, 5, 2)).reduce((a, b) => a + b, 0)).toBe(9);
    expect(Array.from(dilateMask(mask, 5, 5, 0))).toEqual(Array.from(mask));
  });
});

const panel = (over: Partial<ReportSharedFeature> = {}): ReportSharedFeature => ({
  channelId: "ch1",
  objectId: "objects/o1",
  bodyId: "bodies/b1",
  s: 0.5,
  k: 8,
  dropped: 0.01,
  normOut: 0.3,
  normIn: 0.4,
  objectImage: null,
  bodyImage: null,
  ...over,
});

describe("the shared-features section", () => {
  it("marks the readout at the centre of its feature-map pixel", () => {
    // 7×7 map on 224 px: grid x = −1 is column 0, whose centre is image x = 16; x = 0 is column 3 → 112.
    const centre = readoutMarker({ location: [0, 0], h: 7, w: 7, imageSize: 224 });
    expect(centre).toContain('cx="112.0" cy="112.0" r="16.0"');
    const corner = readoutMarker({ location: [-1, 1], h: 7, w: 7, imageSize: 224 });
    expect(corner).toContain('cx="16.0" cy="208.0"');
  });

  it("draws ‖I‖ against s on one scale: bar lengths ‖I‖/top of 130 px, the bound's line at s/top", () => {
    const svg = boundBars(0.3, 0.4, 0.5, 1);
    expect(svg).toContain('width="39.0"'); // 0.3 × 130
    expect(svg).toContain('width="52.0"'); // 0.4 × 130
    expect(svg).toContain('x1="65.0" x2="65.0"'); // s = 0.5
    expect(boundBars(0.3, 0.4, null, 1)).toBe("n/a");
  });

  it("shows the colour bar, the pair's rates and ranks, the silhouette mass, and why channels have no panel", () => {
    const data = {
      channels: [
        { id: "ch1", probe: "A", index: 0 },
        { id: "ch2", probe: "A", index: 1 },
        { id: "ch3", probe: "A", index: 2 },
      ],
      decisions: [
        { channelId: "ch1", included: true, reason: "" },
        { channelId: "ch2", included: false, reason: "failed stability" },
        { channelId: "ch3", included: true, reason: "" },
      ],
      sharedFeatures: [
        panel({
          objectRate: { recorded: 20.4, predicted: 18.5, rank: 2, of: 40 },
          bodyRate: { recorded: 80.6, predicted: null, rank: 1, of: 89 },
          objectMass: {
            onSilhouette: 0.6,
            silhouetteArea: 0.3,
            nearSilhouette: 0.9,
            nearArea: 0.45,
            haloPx: 8,
          },
          topFeatures: [{ index: 473, beta: 0.2 }],
          objectR: 0.55,
          objectN: 40,
        }),
      ],
      sharedFeatureScale: 0.013,
      sharedFeatureSkips: [
        { channelId: "ch3", reason: "its model does not predict the phase-2 objects: r = 0.10" },
      ],
      minObjectR: 0.4,
      session: { state: "done", stateHistory: [] },
    } as unknown as ReportData;
    const html = sharedFeaturesSection(data);
    expect(html).toContain("the largest pixel of any map =\n0.013");
    expect(html).toContain("20.4 spikes/s recorded (rank 2 of 40), 18.5 predicted");
    expect(html).toContain("80.6 spikes/s recorded (rank 1 of 89), prediction n/a");
    expect(html).toContain('60 % <span class="muted">on 30 % of the image (2.0× its share)</span>');
    expect(html).toContain('90 % <span class="muted">within 8 px of it (45 % of the image)</span>');
    expect(html).toContain("#473 (0.200)");
    expect(html).toContain("object r 0.55 (40 objects)");
    expect(html).toContain("object r &gt; 0.40");
    expect(html).toContain("<b>ch2</b> — excluded by the checks (failed stability)");
    expect(html).toContain(
      "<b>ch3</b> — not visualized: its model does not predict the phase-2 objects: r = 0.10",
    );
    // Missing overlays are named, not left as broken images.
    expect(html).toContain("object objects/o1: no overlay image stored");
  });
});
