// Pair choice (top recorded objects × bodies, highest s) and the heat-map overlays.
import { describe, expect, it } from "vitest";
import type { FeatureMaps } from "../../analysis/readout/feature-maps.ts";
import { mapIntensity, pairOverlay, sideBySide } from "../../analysis/saliency/overlay.ts";
import { bestPair } from "../../analysis/saliency/pair.ts";
import { loadSaliencyFixture } from "./saliency-fixture.ts";

const fx = loadSaliencyFixture();

/** 1×1 feature maps holding the PyTorch-sampled features of the listed fixture images. */
function maps(rows: number[]): FeatureMaps {
  const c = fx.weights.length;
  const data = new Float32Array(rows.length * c);
  for (const [i, r] of rows.entries()) data.set(fx.array(`a${r}`).data, i * c);
  return { n: rows.length, h: 1, w: 1, c, data };
}

/** s by the formula, in float64, written out here (eq. 2). */
function s(r1: number, r2: number): number {
  const a = fx.array(`a${r1}`).data;
  const b = fx.array(`a${r2}`).data;
  let dot = 0;
  let na = 0;
  let nb = 0;
  fx.weights.forEach((w, i) => {
    dot += a[i] * b[i] * w * w;
    na += (a[i] * w) ** 2;
    nb += (b[i] * w) ** 2;
  });
  return dot / Math.sqrt(na * nb);
}

describe("bestPair", () => {
  const readout = { location: [0, 0] as [number, number], weights: fx.weights };
  const objects = { ids: ["basketball", "beetle", "ghost"], features: maps([0, 3, 0]) };
  const bodies = { ids: ["bear", "bison"], features: maps([1, 2]) };

  it("searches only the top recorded objects and bodies and returns the pair with the highest s", () => {
    const all = bestPair(readout, objects, bodies, { objects: [3, 2, Number.NaN], bodies: [1, 5] });
    const pairs = [
      ["basketball", "bear", s(0, 1)],
      ["basketball", "bison", s(0, 2)],
      ["beetle", "bear", s(3, 1)],
      ["beetle", "bison", s(3, 2)],
    ] as const;
    const best = pairs.reduce((a, b) => (b[2] > a[2] ? b : a));
    expect([all.objectId, all.bodyId]).toEqual([best[0], best[1]]);
    expect(all.s).toBeCloseTo(best[2], 6);
    expect(all.topObjectIds).toEqual(["basketball", "beetle"]); // the unrecorded object (NaN) is skipped
    expect(all.topBodyIds).toEqual(["bison", "bear"]);
    const top1 = bestPair(readout, objects, bodies, { objects: [1, 2, Number.NaN], bodies: [1, 5] }, 1, 1);
    expect([top1.objectId, top1.bodyId, top1.objectIndex, top1.bodyIndex]).toEqual(["beetle", "bison", 1, 1]);
    expect(top1.s).toBeCloseTo(s(3, 2), 6);
  });

  it("throws EPHYS_NO_PAIR without a recorded object or body, EPHYS_BAD_SALIENCY on mismatched inputs", () => {
    const nan = [Number.NaN, Number.NaN, Number.NaN];
    expect(() => bestPair(readout, objects, bodies, { objects: nan, bodies: [1, 2] })).toThrow(
      expect.objectContaining({ code: "EPHYS_NO_PAIR" }),
    );
    expect(() => bestPair(readout, objects, bodies, { objects: [1], bodies: [1, 2] })).toThrow(
      expect.objectContaining({ code: "EPHYS_BAD_SALIENCY" }),
    );
  });
});

describe("overlays", () => {
  const img = (w: number, h: number, v: number) => ({
    width: w,
    height: h,
    data: new Float32Array(w * h * 3).fill(v),
  });

  it("puts both maps on one scale: the strongest pixel of the pair is yellow, a zero map leaves the image dimmed", () => {
    const a = img(4, 3, 200);
    const b = img(2, 2, 100);
    const mapA = new Float32Array(4 * 3 * 3);
    mapA[3 * 5] = -2; // pixel 5: intensity 2 (|·| summed over colour)
    mapA[3 * 5 + 1] = 1; // → 3
    const mapB = new Float32Array(2 * 2 * 3);
    mapB[0] = 1.5; // half the pair's maximum
    const o = pairOverlay(a, mapA, b, mapB);
    expect(o.scale).toBe(3);
    expect(Array.from(mapIntensity(mapA, 3, 4))[5]).toBe(3);
    const px = (im: { data: Uint8Array; width: number }, p: number) =>
      Array.from(im.data.subarray(3 * p, 3 * p + 3));
    // t = 1: alpha 0.85 of (255, 255, 0) over 0.6·200.
    expect(px(o.out, 5)).toEqual([
      Math.round(0.15 * 120 + 0.85 * 255),
      Math.round(0.15 * 120 + 0.85 * 255),
      18,
    ]);
    expect(px(o.out, 0)).toEqual([120, 120, 120]);
    // t = 0.5: alpha 0.425 of (255, 128, 0) over 0.6·100.
    expect(px(o.in, 0)).toEqual([
      Math.round(0.575 * 60 + 0.425 * 255),
      Math.round(0.575 * 60 + 0.425 * Math.round(127.5)),
      Math.round(0.575 * 60),
    ]);
    expect([o.pair.width, o.pair.height]).toEqual([4 + 8 + 2, 3]);
    expect(px(o.pair, 4 * 0 + 12)).toEqual(px(o.in, 0)); // the right image starts after the 8-pixel gap
    expect(px(o.pair, 14 * 2 + 12)).toEqual([128, 128, 128]); // below the shorter image: background gray
  });

  it("sideBySide keeps each image's rows", () => {
    const one = { width: 1, height: 2, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
    const out = sideBySide([one, one], 1, 0);
    expect(Array.from(out.data)).toEqual([1, 2, 3, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 4, 5, 6]);
  });
});
