// The virtual rig's neurons (controller/simulate/neurons.ts) answering images the protocol does not list: phase-3
// fragments and synthesized images get rates from their own features ("features"), or a fragment its parent's
// ("parent"); the rate formula checked by hand on small feature maps; phase 3 as phase 2.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { FeatureMaps } from "../../analysis/readout/index.ts";
import { selectImages } from "../../analysis/readout/index.ts";
import { syntheticFeatureMaps } from "../../analysis/synthetic-neurons.ts";
import { buildGroundTruth, type NeuronOptions } from "../../controller/simulate/neurons.ts";
import { fragmentId } from "../../stimuli/index.ts";

const [H, W, C] = [5, 5, 12];
const ids = [
  ...Array.from({ length: 12 }, (_, i) => `bodies/b${i}`),
  ...Array.from({ length: 10 }, (_, i) => `objects/o${i}`),
];
const category = (id: string) => (id.startsWith("objects/") ? "object" : "body");
const features = syntheticFeatureMaps(ids.length, H, W, C, 42, 0.05);
const CHANNELS = ["ch001", "ch002", "ch003", "ch004"];
const BASELINE = 8;

/** ch002 unstable (phase 2 scrambled), ch003 non-selective (a random half of the images is its "category"). */
function options(o: Partial<NeuronOptions> = {}): NeuronOptions {
  return {
    channels: CHANNELS,
    stimuli: ids.map((id) => ({ id, path: `/nowhere/${id}.png`, category: category(id) })),
    preferredCategory: "body",
    baselineRate: BASELINE,
    peakRate: 80,
    seed: 11,
    features,
    unstable: [1],
    nonSelective: [2],
    objectGain: 0.5,
    ...o,
  };
}

const row = (id: string) => selectImages(features, [ids.indexOf(id)]);
const full = (parentId: string) => fragmentId({ channelId: "ch001", kind: "full", n: 0, parentId });

/** One image whose every pixel holds the same vector v: a(x) = v wherever the neuron reads. */
function uniformMap(v: ArrayLike<number>): FeatureMaps {
  const data = new Float32Array(H * W * C);
  for (let p = 0; p < H * W; p++) for (let j = 0; j < C; j++) data[p * C + j] = v[j];
  return { n: 1, h: H, w: W, c: C, data };
}

describe("new images, from their own features", () => {
  it("a protocol image under a new id: exactly the protocol image's rate on every channel and phase", async () => {
    const truth = await buildGroundTruth(options());
    const body = "bodies/b3";
    const object = "objects/o4";
    const copies = [
      { id: full(body), category: "body", parentId: body },
      { id: full(object), category: "object", parentId: object },
      // No parent: outside every category, as an object is (selective channels only: a non-selective channel's
      // random category is the parent's, and a copy of an object without one is not in it).
      { id: "synthesized/ch001-1", category: null },
    ];
    expect(copies.map((c) => truth.needsFeatures(c))).toEqual([true, true, true]);
    const copyFeatures: FeatureMaps = {
      ...features,
      n: 3,
      data: new Float32Array([...row(body).data, ...row(object).data, ...row(object).data]),
    };
    await truth.addImages(copies, copyFeatures);
    for (const ch of CHANNELS) {
      expect(truth.rate(ch, copies[0].id, 1)).toBe(truth.rate(ch, body, 1));
      expect(truth.rate(ch, copies[1].id, 1)).toBe(truth.rate(ch, object, 1));
      if (ch !== "ch003") expect(truth.rate(ch, copies[2].id, 1)).toBe(truth.rate(ch, object, 1));
      // New images are not part of the unstable channel's scramble: the same rate in every phase.
      for (const c of copies) {
        expect(truth.rate(ch, c.id, 2)).toBe(truth.rate(ch, c.id, 1));
        expect(truth.rate(ch, c.id, 3)).toBe(truth.rate(ch, c.id, 1));
      }
    }
    // objectGain is in play: the copy of a body without a parent is out of category, and answered more weakly.
    const driven = CHANNELS.filter((ch) => ch !== "ch003" && truth.rate(ch, body, 1) > BASELINE);
    expect(driven.length).toBeGreaterThan(0);
    await truth.addImages([{ id: "synthesized/ch001-2", category: null }], row(body));
    for (const ch of driven)
      expect(truth.rate(ch, "synthesized/ch001-2", 1)).toBeCloseTo(
        BASELINE + 0.5 * (truth.rate(ch, body, 1) - BASELINE),
        4,
      );
  });

  it("the rate by hand: baseline + gain·max(0, a·w), the part above baseline × objectGain outside the category", async () => {
    const truth = await buildGroundTruth(options());
    const n = truth.truth.neurons[0];
    const w = n.weights!;
    const gain = n.gain!;
    // a = s·w (w is a unit vector): the drive is s.
    const at = (s: number) => uniformMap(w.map((x) => s * x));
    await truth.addImages([{ id: "fragment/ch001/highlighted/bodies/b0", category: "body" }], at(0.5));
    await truth.addImages([{ id: "fragment/ch001/highlighted/objects/o0", category: "object" }], at(0.5));
    await truth.addImages([{ id: "fragment/ch001/complement/bodies/b0", category: "body" }], at(-0.5));
    // Category from the parent where none is given: a fragment of a body is a body.
    await truth.addImages(
      [{ id: "fragment/ch001/random1/bodies/b1", category: null, parentId: "bodies/b1" }],
      at(0.25),
    );
    expect(truth.rate("ch001", "fragment/ch001/highlighted/bodies/b0", 1)).toBeCloseTo(8 + gain * 0.5, 4);
    expect(truth.rate("ch001", "fragment/ch001/highlighted/objects/o0", 1)).toBeCloseTo(
      8 + 0.5 * gain * 0.5,
      4,
    );
    expect(truth.rate("ch001", "fragment/ch001/complement/bodies/b0", 1)).toBe(8); // rectified
    expect(truth.rate("ch001", "fragment/ch001/random1/bodies/b1", 1)).toBeCloseTo(8 + gain * 0.25, 4);
    // By hand, independently of how the simulator computes: gain = (peak − baseline) / max drive over the protocol.
    const maxDrive = Math.max(...n.drive);
    expect(gain).toBeCloseTo((80 - 8) / maxDrive, 3);
  });

  it("an altered image (half its map grey: zero features) gets another rate", async () => {
    const truth = await buildGroundTruth(options());
    const body = "bodies/b5";
    const altered = row(body);
    altered.data = altered.data.slice();
    for (let y = 0; y < H; y++)
      for (let x = 0; x < Math.ceil(W / 2); x++) altered.data.fill(0, (y * W + x) * C, (y * W + x + 1) * C);
    await truth.addImages([{ id: "fragment/ch001/complement/bodies/b5", category: "body" }], altered);
    const changed = CHANNELS.filter(
      (ch) => truth.rate(ch, "fragment/ch001/complement/bodies/b5", 1) !== truth.rate(ch, body, 1),
    );
    expect(changed.length).toBeGreaterThan(0);
  });

  it("refuses an image it needs features of without them, and features of another map size", async () => {
    const truth = await buildGroundTruth(options());
    await expect(truth.addImages([{ id: "synthesized/ch001-1", category: null }])).rejects.toMatchObject({
      code: "EPHYS_BAD_NEW_IMAGE",
    });
    await expect(
      truth.addImages([{ id: "synthesized/ch001-1", category: null }], syntheticFeatureMaps(1, 3, 3, C, 1)),
    ).rejects.toMatchObject({ code: "EPHYS_BAD_NEW_IMAGE" });
    expect(truth.knows("synthesized/ch001-1")).toBe(false);
    expect(truth.rate("ch001", "synthesized/ch001-1", 3)).toBe(BASELINE);
  });

  it("phase 3 is phase 2 for the protocol's images (an unstable channel stays scrambled)", async () => {
    const truth = await buildGroundTruth(options());
    for (const ch of CHANNELS)
      for (const id of ids) expect(truth.rate(ch, id, 3)).toBe(truth.rate(ch, id, 2));
    expect(ids.some((id) => truth.rate("ch002", id, 2) !== truth.rate("ch002", id, 1))).toBe(true);
  });
});

describe('new images with simulation.newImages: "parent"', () => {
  it("a fragment has exactly its parent's rate in each phase, whatever its features", async () => {
    const truth = await buildGroundTruth(options({ newImages: "parent" }));
    const fragments = ids.map((parentId) => ({
      id: fragmentId({ channelId: "ch002", kind: "highlighted", n: 0, parentId }),
      category: category(parentId),
      parentId,
    }));
    expect(fragments.some((f) => truth.needsFeatures(f))).toBe(false);
    await truth.addImages(fragments);
    for (const ch of CHANNELS)
      for (const [i, f] of fragments.entries())
        for (const phase of [1, 2, 3] as const)
          expect(truth.rate(ch, f.id, phase)).toBe(truth.rate(ch, ids[i], phase));
    // A fragment of a fragment is its grandparent's; an image with no parent still needs its own features.
    const deeper = { id: "fragment/ch001/full/x", category: null, parentId: fragments[0].id };
    expect(truth.needsFeatures(deeper)).toBe(false);
    await truth.addImages([deeper]);
    expect(truth.rate("ch002", deeper.id, 2)).toBe(truth.rate("ch002", ids[0], 2));
    expect(truth.needsFeatures({ id: "synthesized/ch001-1", category: null })).toBe(true);
  });
});

describe("thumbnail neurons", () => {
  it("compute the statistic of a new image's file: a copy of a protocol image under a fragment id answers as it", async () => {
    const demo = join(import.meta.dirname, "..", "..", "stimuli", "demo");
    const stimuli = [
      { id: "bodies/body-badger", path: join(demo, "bodies", "body-badger.png"), category: "body" },
      {
        id: "bodies/body-albino-peahen",
        path: join(demo, "bodies", "body-albino-peahen.png"),
        category: "body",
      },
    ];
    const truth = await buildGroundTruth(options({ features: undefined, stimuli }));
    const id = full("bodies/body-badger");
    expect(truth.needsFeatures({ id, category: null, parentId: "bodies/body-badger" })).toBe(false);
    await expect(
      truth.addImages([{ id, category: null, parentId: "bodies/body-badger" }]),
    ).rejects.toMatchObject({ code: "EPHYS_BAD_NEW_IMAGE" });
    await truth.addImages([{ id, category: null, parentId: "bodies/body-badger", path: stimuli[0].path }]);
    for (const ch of CHANNELS) expect(truth.rate(ch, id, 3)).toBe(truth.rate(ch, "bodies/body-badger", 1));
  });
});
