// The fragments of one parent image as phase 3 writes them (controller/day/steps/fragment.ts cutParent): a real
// demo photograph, a shared-feature map with a known peak written as the visualize step writes it (H×W×3 .npy),
// the PNGs and masks on disk read back with sharp and readNpy. Masks have the stated area, the highlighted one holds
// the map's maximum, random ones lie on the object's silhouette off the salient region, pixels are the parent's or
// the display's grey, a small object's region is capped to half its pixels, and the files hash the same for a seed.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { readNpy, writeNpy } from "../../analysis/features/index.ts";
import { type CutParent, cutParent, MAX_SILHOUETTE_SHARE } from "../../controller/day/steps/fragment.ts";
import type { StimulusRecord } from "../../controller/store/store.ts";
import type { Phase3Spec } from "../../protocols/index.ts";
import { loadImageRGB, silhouetteMask, toUint8 } from "../../stimuli/index.ts";

const SIZE = 224;
const PEAK = { y: 90, x: 120 };
const spec = {
  kinds: ["highlighted", "complement", "random", "full"],
  areaFraction: 0.05,
  basis: "area",
  softnessPx: 0,
  randomCount: 3,
  repetitions: 2,
  alpha: 0.05,
} as Phase3Spec;

const parent = (file: string, category: "body" | "object"): StimulusRecord => ({
  id: `${category === "body" ? "bodies" : "objects"}/${file}`,
  setId: category === "body" ? "bodies" : "objects",
  category,
  role: category === "body" ? "preferred" : "object",
  path: new URL(
    `../../stimuli/demo/${category === "body" ? "bodies" : "objects"}/${file}.png`,
    import.meta.url,
  ).pathname,
  sha256: "0".repeat(64),
});

/** A map whose intensity is a Gaussian bump at PEAK (σ 20 px) over a faint ramp, as H×W×3 float32. */
async function writeMap(dir: string): Promise<string> {
  const data = new Float32Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) {
      const v = Math.exp(-((x - PEAK.x) ** 2 + (y - PEAK.y) ** 2) / 800) + 1e-4 * (x + y);
      data.set([v, -v / 2, v / 4], (y * SIZE + x) * 3);
    }
  const path = join(dir, "map.npy");
  await writeNpy(path, data, [SIZE, SIZE, 3]);
  return path;
}

async function cut(dir: string, image: StimulusRecord, s: Phase3Spec = spec): Promise<CutParent> {
  const settings = {
    areaFraction: s.areaFraction,
    basis: s.basis,
    softnessPx: s.softnessPx,
    randomCount: s.randomCount,
    seed: 7,
    imageSize: SIZE,
  };
  return cutParent(image, "body", await writeMap(dir), "ch001", s, settings, dir);
}

const pixels = async (path: string) => new Uint8Array(await sharp(path).removeAlpha().raw().toBuffer());

describe("phase-3 fragments of one image", () => {
  it("cuts the stated area around the map's peak, places random regions on the object, greys the rest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-cut-"));
    const body = parent("body-badger", "body");
    const part = await cut(dir, body);
    const n = SIZE * SIZE;
    expect(part.capped).toBe(false);
    expect(part.area).toBe(Math.round(0.05 * n));
    const byKind = (k: string) => part.cuts.filter((c) => c.record.kind === k);
    expect(part.cuts.map((c) => c.record.stimulusId)).toEqual([
      "fragment/ch001/highlighted/bodies/body-badger",
      "fragment/ch001/complement/bodies/body-badger",
      "fragment/ch001/random1/bodies/body-badger",
      "fragment/ch001/random2/bodies/body-badger",
      "fragment/ch001/random3/bodies/body-badger",
    ]);
    for (const c of part.cuts) {
      expect(c.stimulus.role).toBe("fragment");
      expect(c.stimulus.category).toBe("body");
      expect(c.record.parentId).toBe(body.id);
    }
    const img = await loadImageRGB(body.path, SIZE);
    const silhouette = silhouetteMask(img);
    const original = toUint8(img); // the parent as the model and the display see it
    const highlighted = (await readNpy(byKind("highlighted")[0].record.maskPath)).data;
    let inMask = 0;
    for (const v of highlighted) inMask += v;
    expect(inMask).toBe(part.area);
    expect(highlighted[PEAK.y * SIZE + PEAK.x]).toBe(1); // the map's maximum is in the highlighted region
    // The highlighted fragment: the parent's pixels inside, grey outside; the complement the other way round.
    const hPng = await pixels(byKind("highlighted")[0].stimulus.path);
    const cPng = await pixels(byKind("complement")[0].stimulus.path);
    let wrong = 0;
    for (let p = 0; p < n; p++)
      for (let k = 0; k < 3; k++) {
        const keep = highlighted[p] === 1;
        const o = original[3 * p + k];
        if (hPng[3 * p + k] !== (keep ? o : 128)) wrong++;
        if (cPng[3 * p + k] !== (keep ? 128 : o)) wrong++;
      }
    expect(wrong).toBe(0);
    // Random regions: the same area, on the silhouette, off the salient region, and all different.
    const randoms = await Promise.all(byKind("random").map((c) => readNpy(c.record.maskPath)));
    for (const r of randoms) {
      let area = 0;
      let offObject = 0;
      let onSalient = 0;
      for (let p = 0; p < n; p++) {
        if (r.data[p] !== 1) continue;
        area++;
        if (!silhouette[p]) offObject++;
        if (highlighted[p] === 1) onSalient++;
      }
      expect(area).toBe(part.area);
      expect(offObject).toBe(0);
      expect(onSalient).toBe(0);
    }
    expect(new Set(randoms.map((r) => Buffer.from(r.data.buffer).toString("base64"))).size).toBe(3);
  });

  it("writes byte-identical files for the same seed (a restart rebuilds nothing differently)", async () => {
    const soft = { ...spec, areaFraction: 0.15, softnessPx: 3 } as Phase3Spec;
    const body = parent("body-badger", "body");
    const a = await cut(mkdtempSync(join(tmpdir(), "ephys-cut-a-")), body, soft);
    const b = await cut(mkdtempSync(join(tmpdir(), "ephys-cut-b-")), body, soft);
    expect(a.cuts.map((c) => c.stimulus.sha256)).toEqual(b.cuts.map((c) => c.stimulus.sha256));
    for (const [i, c] of a.cuts.entries())
      expect(readFileSync(c.record.maskPath)).toEqual(readFileSync(b.cuts[i].record.maskPath));
    expect(new Set(a.cuts.map((c) => c.stimulus.sha256)).size).toBe(a.cuts.length);
  });

  it("caps the region at half the object's pixels when the object is small, so random regions still fit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-cut-small-"));
    const small = parent("object-2-venus", "object");
    const silhouette = silhouetteMask(await loadImageRGB(small.path, SIZE));
    const onObject = silhouette.reduce((a, v) => a + (v ? 1 : 0), 0);
    const wide = { ...spec, areaFraction: 0.6 } as Phase3Spec;
    expect(0.6 * SIZE * SIZE).toBeGreaterThan(MAX_SILHOUETTE_SHARE * onObject); // the case under test
    const part = await cut(dir, small, wide);
    expect(part.capped).toBe(true);
    expect(part.silhouette).toBe(onObject);
    expect(part.area).toBe(Math.floor(MAX_SILHOUETTE_SHARE * onObject));
    expect(part.cuts.filter((c) => c.record.kind === "random")).toHaveLength(3);
  });
});
