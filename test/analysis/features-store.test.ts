// The on-disk feature cache and computeFeatures: hits and misses (extractor calls counted), float16 entries,
// atomic writes (a leftover temp file is ignored), broken entries recomputed, duplicates, progress, cancelling;
// and the embedded ResNet-50 at layer4.1 through the cache against a direct extractor call.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onnxAvailable } from "../../analysis/backbone/onnx-executor.ts";
import { createFeatureExtractor, type FeatureExtractor } from "../../analysis/features/extract.ts";
import {
  cacheDir,
  computeFeatures,
  countMissing,
  decodeEntry,
  encodeEntry,
  entryPath,
  type FeatureProgress,
  type StimulusImage,
} from "../../analysis/features/store.ts";
import { loadImageRGB } from "../../stimuli/image.ts";
import { loadReference, relativeError } from "./backbone-fixtures.ts";

const BODIES = join(import.meta.dirname, "..", "..", "stimuli", "demo", "bodies");
if (!(await onnxAvailable()))
  throw new Error(
    "onnxruntime-node does not load on this machine; these suites need it (npm ci installs it)",
  );
const root = mkdtempSync(join(tmpdir(), "features-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sha256sum = (path: string) => execFileSync("sha256sum", [path]).toString().split(" ")[0];
const demoImages: StimulusImage[] = readdirSync(BODIES)
  .filter((f) => f.endsWith(".png"))
  .sort()
  .slice(0, 5)
  .map((f) => ({ id: f.replace(/\.png$/, ""), path: join(BODIES, f), sha256: sha256sum(join(BODIES, f)) }));

/** The extractor with its extract() calls and images counted. */
function counting(inner: FeatureExtractor): FeatureExtractor & { calls: number; images: number } {
  const wrapped = {
    ...inner,
    calls: 0,
    images: 0,
    featureShape: (size: number) => inner.featureShape(size),
    extract(rgb: Float32Array | Uint8Array, n: number, size: number) {
      wrapped.calls++;
      wrapped.images += n;
      return inner.extract(rgb, n, size);
    },
    dispose: () => inner.dispose(),
  };
  return wrapped;
}

describe("feature cache with a small ResNet-18", () => {
  let base: FeatureExtractor;
  const SIZE = 64;
  beforeAll(async () => {
    base = await createFeatureExtractor({
      arch: "resnet18",
      variant: "torchvision",
      layer: "layer4.1",
      weightsPath: loadReference("resnet18-w8").weightsPath,
      executor: "onnx",
      tfjsBackend: "wasm",
      threads: 2,
      imageSize: SIZE,
    });
  });
  afterAll(() => base.dispose());

  /** Direct extractor call on the images, one at a time (the reference for cached values). */
  async function direct(images: StimulusImage[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const img of images) {
      const rgb = (await loadImageRGB(img.path, SIZE)).data;
      out.push((await base.extract(rgb, 1, SIZE)).data.slice());
    }
    return out;
  }

  it("countMissing counts the distinct images without an entry", async () => {
    const cacheRoot = join(root, "count-missing");
    const twice = [...demoImages, demoImages[0]];
    expect(await countMissing(twice, base, cacheRoot, SIZE)).toBe(5);
    await computeFeatures({ images: demoImages.slice(0, 2), extractor: base, root: cacheRoot });
    expect(await countMissing(twice, base, cacheRoot, SIZE)).toBe(3);
    expect(await countMissing(twice, base, cacheRoot, SIZE + 32)).toBe(5); // another size, another key
  });

  it("misses compute in batches and write one float16 entry per image; a second call only reads", async () => {
    const cacheRoot = join(root, "hit-miss");
    const first = counting(base);
    const progress: FeatureProgress[] = [];
    const a = await computeFeatures({
      images: demoImages,
      extractor: first,
      root: cacheRoot,
      batchSize: 2,
      onProgress: (p) => progress.push(p),
    });
    expect([a.n, a.h, a.w, a.c]).toEqual([5, 2, 2, 64]);
    expect([first.calls, first.images, a.computed, a.cached]).toEqual([3, 5, 5, 0]);
    expect(progress.map((p) => p.done)).toEqual([0, 2, 4, 5]);
    expect(progress.at(-1)).toMatchObject({ total: 5, cached: 0, etaS: 0 });
    expect(progress[1].rate).toBeGreaterThan(0);
    expect(progress[1].etaS).toBeCloseTo(3 / progress[1].rate, 6);

    const dir = cacheDir(cacheRoot, { ...base, imageSize: SIZE });
    expect(a.dir).toBe(dir);
    expect(dir).toContain(`${base.weightsSha256.slice(0, 16)}-resnet18-torchvision-layer4.1-64`);
    const files = readdirSync(dir).sort();
    expect(files).toEqual([...demoImages.map((i) => `${i.sha256}.f16`), "key.json"].sort());
    expect(statSync(entryPath(dir, demoImages[0].sha256)).size).toBe(24 + 2 * 2 * 64 * 2);
    expect(JSON.parse(readFileSync(join(dir, "key.json"), "utf8"))).toMatchObject({
      weightsSha256: base.weightsSha256,
      layer: "layer4.1",
      imageSize: SIZE,
      featureShape: [2, 2, 64],
    });

    const second = counting(base);
    const secondProgress: FeatureProgress[] = [];
    const b = await computeFeatures({
      images: demoImages,
      extractor: second,
      root: cacheRoot,
      onProgress: (p) => secondProgress.push(p),
    });
    expect([second.calls, b.computed, b.cached]).toEqual([0, 0, 5]);
    expect(secondProgress).toEqual([{ done: 5, total: 5, cached: 5, rate: 0, etaS: 0 }]);

    // Both calls against the extractor itself: first call exact (float32), cached one within float16 rounding.
    const ref = await direct(demoImages);
    const per = 2 * 2 * 64;
    ref.forEach((r, i) => {
      expect(relativeError(a.data.subarray(i * per, (i + 1) * per), r)).toBeLessThan(1e-6);
      expect(relativeError(b.data.subarray(i * per, (i + 1) * per), r)).toBeLessThan(1e-3);
    });
    // and the entry holds each value rounded to the nearest half (2^-11 relative at most)
    for (let i = 0; i < b.data.length; i++) {
      expect(Math.abs(b.data[i] - a.data[i])).toBeLessThanOrEqual(Math.abs(a.data[i]) * 2 ** -11 + 2 ** -25);
    }
  });

  it("resumes: only missing entries are computed; a leftover temp file and a broken entry are not read", async () => {
    const cacheRoot = join(root, "resume");
    const warm = counting(base);
    await computeFeatures({ images: demoImages.slice(0, 2), extractor: warm, root: cacheRoot });
    expect(warm.images).toBe(2);
    const dir = cacheDir(cacheRoot, { ...base, imageSize: SIZE });
    // a crash between writing a temp file and renaming it leaves this behind: garbage under a temp name
    writeFileSync(`${entryPath(dir, demoImages[2].sha256)}.tmp-999-abcdef`, "half-written");
    // a truncated entry (not something our writer makes, but a disk can) is recomputed and replaced
    const good = readFileSync(entryPath(dir, demoImages[1].sha256));
    writeFileSync(entryPath(dir, demoImages[1].sha256), good.subarray(0, 100));

    const rest = counting(base);
    const maps = await computeFeatures({
      images: demoImages,
      extractor: rest,
      root: cacheRoot,
      batchSize: 8,
    });
    expect([rest.calls, rest.images, maps.cached, maps.computed]).toEqual([1, 4, 1, 4]);
    expect(readFileSync(entryPath(dir, demoImages[1].sha256)).equals(good)).toBe(true);
    const ref = await direct(demoImages.slice(2, 3));
    const per = 2 * 2 * 64;
    expect(relativeError(maps.data.subarray(2 * per, 3 * per), ref[0])).toBeLessThan(1e-6);
  });

  it("computes a stimulus listed twice once and returns it at both places; no root = no files", async () => {
    const images = [demoImages[0], { ...demoImages[0], id: "again" }, demoImages[1]];
    const ex = counting(base);
    const maps = await computeFeatures({ images, extractor: ex });
    expect([ex.images, maps.computed, maps.n, maps.dir]).toEqual([2, 2, 3, null]);
    const per = 2 * 2 * 64;
    expect(maps.data.subarray(0, per)).toEqual(maps.data.subarray(per, 2 * per));
  });

  it("stops between batches when cancelled, keeping what was written", async () => {
    const cacheRoot = join(root, "abort");
    const controller = new AbortController();
    const ex = counting(base);
    await expect(
      computeFeatures({
        images: demoImages,
        extractor: ex,
        root: cacheRoot,
        batchSize: 2,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.done >= 2) controller.abort();
        },
      }),
    ).rejects.toMatchObject({ code: "EPHYS_ABORTED" });
    expect(ex.images).toBe(2);
    const again = counting(base);
    const maps = await computeFeatures({ images: demoImages, extractor: again, root: cacheRoot });
    expect([again.images, maps.cached]).toEqual([3, 2]);
  });

  it("rejects bad requests with EPHYS_BAD_FEATURE_REQUEST", async () => {
    await expect(
      computeFeatures({ images: [{ id: "x", path: "/x.png", sha256: "abc" }], extractor: base }),
    ).rejects.toMatchObject({
      code: "EPHYS_BAD_FEATURE_REQUEST",
      message: expect.stringContaining("images[0].sha256 (x)"),
    });
    await expect(
      computeFeatures({ images: demoImages, extractor: base, batchSize: 0 }),
    ).rejects.toMatchObject({
      code: "EPHYS_BAD_FEATURE_REQUEST",
    });
  });
});

describe("cache entries", () => {
  it("encode a shape header and float16 values; decode checks size and shape", () => {
    const data = Float32Array.from([0, 1, 2.5, 1 / 3, 1000.7, 65504]);
    const bytes = encodeEntry({ h: 1, w: 2, c: 3, data });
    expect(bytes.subarray(0, 8).toString("latin1")).toBe("EPHYSF16");
    expect([
      bytes.readUInt32LE(8),
      bytes.readUInt32LE(12),
      bytes.readUInt32LE(16),
      bytes.readUInt32LE(20),
    ]).toEqual([1, 1, 2, 3]);
    expect(bytes.readUInt16LE(24 + 3 * 2)).toBe(0x3555); // numpy: np.float16(1/3).view(np.uint16)
    const back = decodeEntry(bytes);
    expect(back && [...back.data]).toEqual([0, 1, 2.5, 0.333251953125, 1000.5, 65504]);
    expect(decodeEntry(bytes, [1, 2, 3])).not.toBeNull();
    expect(decodeEntry(bytes, [2, 1, 3])).toBeNull();
    expect(decodeEntry(bytes.subarray(0, bytes.length - 1))).toBeNull();
    expect(decodeEntry(Buffer.from("EPHYSF17".padEnd(36, "\0")))).toBeNull();
  });

  it("refuses values float16 cannot hold (EPHYS_FEATURE_RANGE)", () => {
    for (const bad of [70000, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => encodeEntry({ h: 1, w: 1, c: 2, data: Float32Array.from([1, bad]) })).toThrow(
        expect.objectContaining({ code: "EPHYS_FEATURE_RANGE" }),
      );
    }
  });
});

describe("embedded Keras ResNet-50 at layer4.1 through the cache", () => {
  it("2 demo bodies: [2, 7, 7, 2048], within float16 rounding of a direct extractor call", async () => {
    const extractor = await createFeatureExtractor({
      arch: "resnet50",
      variant: "keras",
      layer: "layer4.1",
      executor: "onnx",
      threads: 2,
    });
    try {
      const images = demoImages.slice(0, 2);
      const maps = await computeFeatures({ images, extractor, root: join(root, "embedded"), imageSize: 224 });
      expect([maps.n, maps.h, maps.w, maps.c]).toEqual([2, 7, 7, 2048]);
      expect(maps.dir).toContain(`${extractor.weightsSha256.slice(0, 16)}-resnet50-keras-layer4.1-224`);
      const cached = await computeFeatures({
        images,
        extractor: counting(extractor),
        root: join(root, "embedded"),
      });
      expect(cached.cached).toBe(2);
      const pixels = new Float32Array(2 * 224 * 224 * 3);
      for (const [i, img] of images.entries())
        pixels.set((await loadImageRGB(img.path, 224)).data, i * 224 * 224 * 3);
      const direct = await extractor.extract(pixels, 2, 224);
      expect(relativeError(cached.data, direct.data)).toBeLessThan(1e-3);
      expect(relativeError(maps.data, direct.data)).toBeLessThan(1e-5);
    } finally {
      await extractor.dispose();
    }
  });
});
