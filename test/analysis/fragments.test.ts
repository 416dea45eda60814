// analysis/fragments masks and composition: salient masks (both bases) against their definitions, the soft edge,
// random same-area masks on a silhouette, and the fragment arithmetic by hand.
import { describe, expect, it } from "vitest";
import {
  composeFragment,
  FragmentError,
  type FragmentImage,
  randomMasks,
  salientMask,
  softenMask,
} from "../../analysis/fragments/index.ts";
import { mulberry32 } from "../../analysis/random.ts";

const H = 40;
const W = 48;
const N = H * W;

/** A bump at (12, 30) over low noise: a map's intensity with one clear peak. */
function bumpMap(): Float64Array {
  const rnd = mulberry32(7);
  const out = new Float64Array(N);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) out[y * W + x] = 5 * Math.exp(-((y - 12) ** 2 + (x - 30) ** 2) / 40) + rnd();
  return out;
}

/** An ellipse centred in the image: the object's silhouette. */
function ellipse(cy: number, cx: number, ry: number, rx: number): Uint8Array {
  const out = new Uint8Array(N);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) out[y * W + x] = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1 ? 1 : 0;
  return out;
}

/** A filled rectangle [y0, y1) × [x0, x1). */
function rect(y0: number, y1: number, x0: number, x1: number): Uint8Array {
  const out = new Uint8Array(N);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) out[y * W + x] = 1;
  return out;
}

const count = (m: ArrayLike<number>) => Array.from(m).filter((v) => v).length;
const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
};

function expectCode(f: () => unknown, code: string, message?: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FragmentError);
  expect(caught).toMatchObject({ code });
  if (message) expect((caught as Error).message).toMatch(message);
}

/** 4-connected components of a mask. */
function components(mask: Uint8Array): number {
  const seen = new Uint8Array(N);
  let n = 0;
  for (let s = 0; s < N; s++) {
    if (!mask[s] || seen[s]) continue;
    n++;
    const stack = [s];
    seen[s] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      const y = Math.floor(p / W);
      const x = p % W;
      for (const [yy, xx] of [
        [y - 1, x],
        [y + 1, x],
        [y, x - 1],
        [y, x + 1],
      ]) {
        const q = yy * W + xx;
        if (yy >= 0 && yy < H && xx >= 0 && xx < W && mask[q] && !seen[q]) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
  }
  return n;
}

describe("salientMask, basis area", () => {
  const map = bumpMap();
  for (const f of [0.01, 0.05, 0.15, 0.5]) {
    it(`areaFraction ${f}: round(f·H·W) pixels, the top ones, with the map's maximum`, () => {
      const { mask, peak, area } = salientMask(map, H, W, { areaFraction: f, softnessPx: 0 });
      expect(count(mask)).toBe(Math.round(f * N));
      expect(area).toBe(Math.round(f * N));
      expect(peak).toBe(argmax(map));
      expect(mask[argmax(map)]).toBe(1);
      let lowestIn = Number.POSITIVE_INFINITY;
      let highestOut = Number.NEGATIVE_INFINITY;
      for (let p = 0; p < N; p++) {
        if (mask[p]) lowestIn = Math.min(lowestIn, map[p]);
        else highestOut = Math.max(highestOut, map[p]);
      }
      expect(lowestIn).toBeGreaterThanOrEqual(highestOut);
    });
  }

  it("breaks ties by index: on a flat map the first pixels in row-major order, the peak at 0", () => {
    const { mask, peak } = salientMask(new Float64Array(N).fill(2), H, W, {
      areaFraction: 0.1,
      softnessPx: 0,
    });
    const k = Math.round(0.1 * N);
    for (let p = 0; p < N; p++) expect(mask[p]).toBe(p < k ? 1 : 0);
    expect(peak).toBe(0);
  });

  it("rejects a wrong size, a fraction outside (0, 1], an area rounding to no pixel and a bad basis", () => {
    const bad = "EPHYS_BAD_FRAGMENT";
    expectCode(() => salientMask(map, H, W + 1, { areaFraction: 0.1, softnessPx: 0 }), bad, /intensity/);
    expectCode(() => salientMask(map, H, W, { areaFraction: 0, softnessPx: 0 }), bad, /areaFraction/);
    expectCode(() => salientMask(map, H, W, { areaFraction: 1.5, softnessPx: 0 }), bad, /areaFraction/);
    expectCode(() => salientMask(map, H, W, { areaFraction: 1e-6, softnessPx: 0 }), bad, /no pixel/);
    expectCode(() => salientMask(map, H, W, { areaFraction: 0.1, softnessPx: -1 }), bad, /softnessPx/);
    expectCode(
      () => salientMask(map, H, W, { areaFraction: 0.1, softnessPx: 0, basis: "volume" as "area" }),
      bad,
      /basis/,
    );
  });
});

describe("salientMask, basis mass", () => {
  const map = bumpMap();
  let total = 0;
  for (const v of map) total += v;
  for (const f of [0.02, 0.2, 0.6]) {
    it(`areaFraction ${f}: the smallest top set holding ≥ f of the mass, with the maximum`, () => {
      const { mask, area, peak } = salientMask(map, H, W, { areaFraction: f, softnessPx: 0, basis: "mass" });
      const inside: number[] = [];
      const outside: number[] = [];
      for (let p = 0; p < N; p++) (mask[p] ? inside : outside).push(map[p]);
      const mass = inside.reduce((a, b) => a + b, 0);
      expect(area).toBe(inside.length);
      expect(mass).toBeGreaterThanOrEqual(f * total);
      expect(mass - Math.min(...inside)).toBeLessThan(f * total); // one pixel fewer would not hold it
      expect(Math.min(...inside)).toBeGreaterThanOrEqual(Math.max(...outside));
      expect(mask[peak]).toBe(1);
      expect(peak).toBe(argmax(map));
    });
  }

  it("takes more of a flat map than of a peaked one for the same fraction", () => {
    const peaked = salientMask(map, H, W, { areaFraction: 0.3, softnessPx: 0, basis: "mass" }).area;
    const flat = salientMask(new Float64Array(N).fill(1), H, W, {
      areaFraction: 0.3,
      softnessPx: 0,
      basis: "mass",
    });
    expect(flat.area).toBe(Math.ceil(0.3 * N));
    expect(peaked).toBeLessThan(flat.area);
  });

  it("rejects an all-zero map and negative intensities", () => {
    const opts = { areaFraction: 0.1, softnessPx: 0, basis: "mass" as const };
    expectCode(() => salientMask(new Float64Array(N), H, W, opts), "EPHYS_BAD_FRAGMENT", /all-zero/);
    const neg = bumpMap();
    neg[5] = -1;
    expectCode(() => salientMask(neg, H, W, opts), "EPHYS_BAD_FRAGMENT", /intensity\[5\]/);
  });
});

describe("soft masks", () => {
  const map = bumpMap();

  it("softnessPx 0 gives the mask itself", () => {
    const { mask, soft } = salientMask(map, H, W, { areaFraction: 0.1, softnessPx: 0 });
    expect(Array.from(soft)).toEqual(Array.from(mask));
  });

  for (const sigma of [1, 2.5]) {
    it(`σ = ${sigma}: in [0, 1], equal to the mask beyond the kernel's reach of an edge, soft at the edge`, () => {
      const { mask, soft } = salientMask(map, H, W, { areaFraction: 0.15, softnessPx: sigma });
      const r = Math.floor(4 * sigma + 0.5); // scipy.ndimage's truncate = 4
      let far = 0;
      let between = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const p = y * W + x;
          expect(soft[p]).toBeGreaterThanOrEqual(0);
          expect(soft[p]).toBeLessThanOrEqual(1);
          if (soft[p] > 0 && soft[p] < 1) between++;
          let uniform = true;
          for (let yy = y - r; yy <= y + r && uniform; yy++)
            for (let xx = x - r; xx <= x + r && uniform; xx++) {
              const q = Math.min(H - 1, Math.max(0, yy)) * W + Math.min(W - 1, Math.max(0, xx));
              if (mask[q] !== mask[p]) uniform = false;
            }
          if (uniform) {
            far++;
            expect(soft[p]).toBe(mask[p]);
          }
        }
      expect(far).toBeGreaterThan(N / 4);
      expect(between).toBeGreaterThan(0);
    });
  }

  it("softenMask: 1 and 0 beyond the kernel's reach, about half across an edge, no darkening at the border", () => {
    const m = rect(5, 35, 25, 48); // the right part of the image, 30 rows
    const soft = softenMask(m, H, W, 2);
    expect(soft[20 * W + 40]).toBe(1); // ≥ 9 px (the kernel's radius) inside
    expect(soft[20 * W + 10]).toBe(0);
    expect(soft[20 * W + 25]).toBeGreaterThan(0.5); // the first column in: a bit over half
    expect(soft[20 * W + 25]).toBeLessThan(0.7);
    expect(soft[20 * W + 24]).toBeGreaterThan(0.3); // the last column out: a bit under half
    expect(soft[20 * W + 24]).toBeLessThan(0.5);
    expect(soft[20 * W + 47]).toBe(1); // the image's edge reflects, so no darkening there
  });
});

describe("randomMasks", () => {
  const silhouette = ellipse(20, 24, 17, 21);
  const shape = rect(14, 20, 8, 15); // 6 × 7 = 42 pixels, on the silhouette's left
  const k = count(shape);

  it("makes count masks of the shape's area, on the silhouette, off the salient mask", () => {
    const masks = randomMasks(shape, silhouette, H, W, { count: 6, seed: 11 });
    expect(masks).toHaveLength(6);
    for (const m of masks) {
      expect(count(m)).toBe(k);
      for (let p = 0; p < N; p++) {
        if (!m[p]) continue;
        expect(silhouette[p]).toBe(1);
        expect(shape[p]).toBe(0);
      }
    }
  });

  it("keeps the shape: on a roomy silhouette some masks are exact translates, and all are one piece", () => {
    const masks = randomMasks(shape, silhouette, H, W, { count: 8, seed: 3 });
    const translates = masks.filter((m) => {
      const first = m.indexOf(1);
      const shift = first - shape.indexOf(1);
      return Array.from(shape).every((v, p) => !v || m[p + shift] === 1);
    });
    expect(translates.length).toBeGreaterThan(0);
    for (const m of masks) expect(components(m)).toBe(1);
  });

  it("is deterministic for a seed, differs across seeds and between masks, and mask i ignores count", () => {
    const a = randomMasks(shape, silhouette, H, W, { count: 4, seed: 5 });
    const b = randomMasks(shape, silhouette, H, W, { count: 4, seed: 5 });
    const c = randomMasks(shape, silhouette, H, W, { count: 4, seed: 6 });
    const longer = randomMasks(shape, silhouette, H, W, { count: 6, seed: 5 });
    expect(b).toEqual(a);
    expect(longer.slice(0, 4)).toEqual(a);
    expect(c).not.toEqual(a);
    expect(a[1]).not.toEqual(a[0]);
  });

  it("overlaps the salient mask only as far as it must, and still fills its area", () => {
    // The silhouette: the shape plus 10 pixels beside it; every one of those must be used.
    const extra = rect(20, 22, 8, 13);
    const tight = shape.map((v, p) => v | extra[p]);
    const masks = randomMasks(shape, tight, H, W, { count: 3, seed: 1 });
    for (const m of masks) {
      expect(count(m)).toBe(k);
      for (let p = 0; p < N; p++) {
        if (extra[p]) expect(m[p]).toBe(1);
        if (m[p]) expect(tight[p]).toBe(1);
      }
    }
  });

  it("fills its area across a silhouette in pieces smaller than the shape", () => {
    const pieces = rect(2, 6, 2, 6).map((v, p) => v | rect(30, 35, 40, 45)[p]); // 16 + 25 = 41 pixels
    const square = rect(15, 21, 20, 26); // 36 pixels
    for (const m of randomMasks(square, pieces, H, W, { count: 3, seed: 9 })) {
      expect(count(m)).toBe(36);
      for (let p = 0; p < N; p++) if (m[p]) expect(pieces[p]).toBe(1);
    }
  });

  it("rejects a silhouette smaller than the shape, naming both sizes", () => {
    const small = rect(0, 5, 0, 5);
    expectCode(
      () => randomMasks(shape, small, H, W, { count: 1, seed: 0 }),
      "EPHYS_SILHOUETTE_TOO_SMALL",
      /42 pixels.*found 25/,
    );
  });

  it("rejects an empty shape, wrong sizes and bad options", () => {
    const bad = "EPHYS_BAD_FRAGMENT";
    expectCode(() => randomMasks(new Uint8Array(N), silhouette, H, W, { count: 1, seed: 0 }), bad, /shape/);
    expectCode(
      () => randomMasks(shape, silhouette.subarray(1), H, W, { count: 1, seed: 0 }),
      bad,
      /silhouette/,
    );
    expectCode(() => randomMasks(shape, silhouette, H, W, { count: 0, seed: 0 }), bad, /count/);
    expectCode(() => randomMasks(shape, silhouette, H, W, { count: 1, seed: 0.5 }), bad, /seed/);
  });
});

describe("composeFragment", () => {
  // A 2×1 image: pixel 0 (10, 20, 30) fully inside the mask, pixel 1 (200, 100, 0) at soft 0.25.
  const image: FragmentImage = { width: 2, height: 1, data: Float32Array.from([10, 20, 30, 200, 100, 0]) };
  const soft = Float32Array.from([1, 0.25]);

  it("highlighted and random: image·s + 128·(1 − s)", () => {
    // pixel 1: 200·0.25 + 128·0.75 = 50 + 96; 100·0.25 + 96; 0 + 96.
    for (const kind of ["highlighted", "random"] as const) {
      expect(Array.from(composeFragment(image, soft, kind).data)).toEqual([10, 20, 30, 146, 121, 96]);
    }
  });

  it("complement: image·(1 − s) + 128·s", () => {
    // pixel 0: all gray; pixel 1: 200·0.75 + 128·0.25 = 150 + 32; 75 + 32; 0 + 32.
    expect(Array.from(composeFragment(image, soft, "complement").data)).toEqual([
      128, 128, 128, 182, 107, 32,
    ]);
  });

  it("takes another background, returns a new image and leaves its input alone", () => {
    const out = composeFragment(image, soft, "highlighted", 0);
    expect(Array.from(out.data)).toEqual([10, 20, 30, 50, 25, 0]);
    expect(out).toMatchObject({ width: 2, height: 1 });
    expect(out.data).not.toBe(image.data);
    expect(Array.from(image.data)).toEqual([10, 20, 30, 200, 100, 0]);
  });

  it("rejects sizes that disagree, soft values outside [0, 1] and an unknown kind", () => {
    const bad = "EPHYS_BAD_FRAGMENT";
    expectCode(() => composeFragment(image, [1], "highlighted"), bad, /soft/);
    expectCode(
      () => composeFragment({ ...image, data: new Float32Array(3) }, soft, "highlighted"),
      bad,
      /data/,
    );
    expectCode(() => composeFragment(image, [1, 1.5], "highlighted"), bad, /soft\[1\]/);
    expectCode(() => composeFragment(image, soft, "full" as "random"), bad, /kind/);
  });
});
