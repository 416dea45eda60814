import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadImageRGB, type RGBImage } from "../../stimuli/image.ts";
import {
  estimateBackground,
  silhouetteImage,
  silhouetteMask,
  writeSilhouettes,
} from "../../stimuli/silhouette.ts";

const W = 160;
const H = 140;
const CX = 78.3;
const CY = 66.7;
const R = 45;

/** Deterministic LCG noise in [-1, 1). */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/**
 * A red-brown disc on gray 128, antialiased by 4×4 supersampling, with ±3 noise, a background-gray "hole"
 * inside the disc (which must be filled) and isolated dark specks outside it (which must be removed).
 */
function discImage(): { image: RGBImage; truth: Uint8Array; specks: number[]; hole: number[] } {
  const rnd = noise(42);
  const data = new Float32Array(W * H * 3);
  const truth = new Uint8Array(W * H);
  const disc = [190, 90, 60];
  const hole: number[] = [];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let cover = 0;
      for (let sy = 0; sy < 4; sy++) {
        for (let sx = 0; sx < 4; sx++) {
          const dx = x + (sx + 0.5) / 4 - CX;
          const dy = y + (sy + 0.5) / 4 - CY;
          if (dx * dx + dy * dy <= R * R) cover++;
        }
      }
      const a = cover / 16;
      const dxc = x + 0.5 - CX + 12;
      const dyc = y + 0.5 - CY - 5;
      const inHole = dxc * dxc + dyc * dyc <= 10 * 10;
      if (inHole) hole.push(y * W + x);
      const p = y * W + x;
      truth[p] = (x + 0.5 - CX) ** 2 + (y + 0.5 - CY) ** 2 <= R * R ? 1 : 0;
      for (let c = 0; c < 3; c++) {
        const v = inHole ? 128 : a * disc[c] + (1 - a) * 128;
        data[p * 3 + c] = Math.round(v + 3 * rnd());
      }
    }
  }
  const specks = [
    [10, 10],
    [150, 20],
    [140, 125],
    [20, 120],
  ].map(([x, y]) => y * W + x);
  for (const p of specks) data.fill(20, p * 3, p * 3 + 3);
  return { image: { width: W, height: H, data }, truth, specks, hole };
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return inter / union;
}

describe("silhouetteMask", () => {
  it("recovers a synthetic disc (IoU > 0.95), filling its hole and dropping specks", () => {
    const { image, truth, specks, hole } = discImage();
    const mask = silhouetteMask(image);
    expect(mask).toHaveLength(W * H);
    expect(iou(mask, truth)).toBeGreaterThan(0.95);
    for (const p of specks) expect(mask[p]).toBe(0);
    for (const p of hole) expect(mask[p]).toBe(1);
    expect(new Set(mask)).toEqual(new Set([0, 1]));
  });

  it("keeps specks when speck removal is off, and finds nothing above an impossible threshold", () => {
    const { image, specks } = discImage();
    const keep = silhouetteMask(image, { minSpeckArea: 1 });
    for (const p of specks) expect(keep[p]).toBe(1);
    const none = silhouetteMask(image, { threshold: 450 }); // beyond the largest RGB distance, 441.7
    expect(none.reduce((s, v) => s + v, 0)).toBe(0);
  });

  it("estimates the background as the border's median colour", () => {
    const { image } = discImage();
    expect(estimateBackground(image).map(Math.round)).toEqual([128, 128, 128]);
    const tinted: RGBImage = { ...image, data: image.data.map((v, i) => (i % 3 === 2 ? v + 30 : v)) };
    expect(estimateBackground(tinted).map(Math.round)).toEqual([128, 128, 158]);
    // A tinted background is still separated from the shape.
    expect(iou(silhouetteMask(tinted), discImage().truth)).toBeGreaterThan(0.9);
  });

  it("gives a non-trivial mask on a demo photo that excludes the border and fits the 85 % frame", async () => {
    const img = await loadImageRGB(resolve("stimuli/demo/bodies/body-giraffe.png"));
    const mask = silhouetteMask(img);
    const area = mask.reduce((s, v) => s + v, 0) / mask.length;
    expect(area).toBeGreaterThan(0.05);
    expect(area).toBeLessThan(0.85);
    let x0 = img.width;
    let y0 = img.height;
    let x1 = -1;
    let y1 = -1;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        if (!mask[y * img.width + x]) continue;
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
    // The builder scales the object's opaque box to 0.85 × 224 = 190 px on its longer side.
    expect(Math.max(x1 - x0 + 1, y1 - y0 + 1)).toBeGreaterThanOrEqual(184);
    expect(Math.max(x1 - x0 + 1, y1 - y0 + 1)).toBeLessThanOrEqual(194);
    expect(Math.min(x0, y0)).toBeGreaterThan(10);
    expect(Math.max(x1, y1)).toBeLessThan(img.width - 10);
  });

  it("rejects data of the wrong length", () => {
    expect(() => silhouetteMask({ width: 4, height: 4, data: new Float32Array(10) })).toThrow(/data\.length/);
  });
});

describe("silhouetteImage", () => {
  it("paints the mask black on background gray", () => {
    const { image } = discImage();
    const mask = silhouetteMask(image);
    const sil = silhouetteImage(image, mask);
    expect([sil.width, sil.height, sil.data.length]).toEqual([W, H, W * H * 3]);
    let wrong = 0;
    for (let p = 0; p < mask.length; p++) {
      const want = mask[p] ? 0 : 128;
      for (let c = 0; c < 3; c++) if (sil.data[3 * p + c] !== want) wrong++;
    }
    expect(wrong).toBe(0);
    expect(mask.reduce((s, v) => s + v, 0)).toBeGreaterThan(1000);
    expect(() => silhouetteImage(image, new Uint8Array(5))).toThrow(/mask\.length/);
  });
});

describe("writeSilhouettes", () => {
  it("writes each image's silhouette once as <source sha256>.png, named by its own sha256", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ephys-sil-"));
    const bodies = resolve("stimuli/demo/bodies");
    const sources = ["body-chimp", "body-gorilla"].map((id) => {
      const path = join(bodies, `${id}.png`);
      return { id, path, sha256: createHash("sha256").update(readFileSync(path)).digest("hex") };
    });
    const files = await writeSilhouettes(sources, dir);
    expect(files.map((f) => f.id)).toEqual(["body-chimp#silhouette", "body-gorilla#silhouette"]);
    expect(readdirSync(dir).sort()).toEqual(sources.map((s) => `${s.sha256}.png`).sort());
    for (const [i, f] of files.entries()) {
      expect(f.sourceId).toBe(sources[i].id);
      expect(f.sha256).toBe(createHash("sha256").update(readFileSync(f.path)).digest("hex"));
      // the file holds silhouetteImage(silhouetteMask(source)), pixel for pixel
      const source = await loadImageRGB(sources[i].path);
      const expected = silhouetteImage(source, silhouetteMask(source));
      const written = await loadImageRGB(f.path);
      expect([written.width, written.height]).toEqual([source.width, source.height]);
      expect(
        Buffer.from(Uint8Array.from(written.data)).equals(Buffer.from(Uint8Array.from(expected.data))),
      ).toBe(true);
    }
    // a second call reuses the files (same bytes, same mtime)
    const before = files.map((f) => statSync(f.path).mtimeMs);
    const again = await writeSilhouettes(sources, dir);
    expect(again).toEqual(files);
    expect(again.map((f) => statSync(f.path).mtimeMs)).toEqual(before);
  });
});
