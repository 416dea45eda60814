// The feature pool (one executor per worker thread) against the single extractor in this thread: the same
// values, bit for bit, on ONNX Runtime (workers × 1 thread vs 1 session × 2 threads) and on tfjs wasm, for a batch
// cut unevenly between workers; metadata, sizing and bad requests.
import { describe, expect, it } from "vitest";
import { onnxAvailable } from "../../analysis/backbone/onnx-executor.ts";
import { createFeatureExtractor, type FeatureExtractor } from "../../analysis/features/extract.ts";
import { mulberry32 } from "../../analysis/random.ts";
import { createFeaturePool, featurePoolSize } from "../../controller/compute/feature-pool.ts";
import { loadReference } from "../analysis/backbone-fixtures.ts";
import { firstBitDifference } from "./bit-difference.ts";

if (!(await onnxAvailable()))
  throw new Error(
    "onnxruntime-node does not load on this machine; these suites need it (npm ci installs it)",
  );
const ref = loadReference("resnet18-w8");
const SIZE = 64;
const N = 5;

function pixels(n: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: n * SIZE * SIZE * 3 }, () => Math.floor(256 * random()));
}

describe.each([["onnx"], ["tfjs"]] as const)("feature pool on %s", (executor) => {
  it("gives the single extractor's features bit for bit, in batch order", async () => {
    const options = {
      arch: ref.arch,
      variant: ref.variant,
      layer: "layer4.1",
      weightsPath: ref.weightsPath,
      executor,
      tfjsBackend: "wasm",
      imageSize: SIZE,
    } as const;
    const single = await createFeatureExtractor({ ...options, threads: 2 });
    let pool: FeatureExtractor | undefined;
    try {
      pool = await createFeaturePool({ ...options, threads: 2, workers: 2 });
      expect(pool.description).toMatch(
        executor === "onnx"
          ? /^2 workers × onnx on cpu \(onnxruntime-node, 1 thread\)/
          : /^2 workers × tfjs-wasm/,
      );
      expect(pool.weightsSha256).toBe(single.weightsSha256);
      expect(pool.executorName).toBe(single.executorName);
      expect(pool.featureShape(SIZE)).toEqual(single.featureShape(SIZE));
      expect(pool.featureShape(96)).toEqual(single.featureShape(96));
      const rgb = pixels(N, 7);
      const expected = await single.extract(rgb, N, SIZE);
      const got = await pool.extract(rgb, N, SIZE); // 5 images: parts of 2 and 3 (rounded bounds)
      expect([got.n, got.h, got.w, got.c]).toEqual([expected.n, expected.h, expected.w, expected.c]);
      expect(firstBitDifference(got.data, expected.data)).toBeNull();
      expect(rgb.length).toBe(N * SIZE * SIZE * 3); // the caller's pixels are not moved away
      // one image alone (one worker idle) and the images in another order land in their places
      const one = await pool.extract(rgb.subarray(2 * SIZE * SIZE * 3, 3 * SIZE * SIZE * 3), 1, SIZE);
      const per = expected.h * expected.w * expected.c;
      expect(firstBitDifference(one.data, expected.data.subarray(2 * per, 3 * per))).toBeNull();
    } finally {
      await single.dispose();
      await pool?.dispose();
    }
  }, 120_000);
});

describe("feature pool sizing and errors", () => {
  const tfjsOptions = {
    arch: ref.arch,
    variant: ref.variant,
    layer: "layer4.1",
    weightsPath: ref.weightsPath,
    executor: "tfjs",
    tfjsBackend: "wasm",
  } as const;

  it("splits an ONNX Runtime thread budget between sessions and gives tfjs one worker per thread", () => {
    expect(featurePoolSize("onnx", 1)).toEqual({ workers: 1, threadsPerWorker: 1 });
    expect(featurePoolSize("onnx", 2)).toEqual({ workers: 2, threadsPerWorker: 1 });
    expect(featurePoolSize("onnx", 16)).toEqual({ workers: 4, threadsPerWorker: 4 });
    expect(featurePoolSize("tfjs", 2)).toEqual({ workers: 2, threadsPerWorker: 1 });
    for (const t of [1, 2, 3, 4, 6, 8, 12, 16, 32, 64]) {
      const s = featurePoolSize("onnx", t);
      expect(s.workers * s.threadsPerWorker, `budget ${t}`).toBeLessThanOrEqual(t);
    }
  });

  it("runs in this thread with one worker", async () => {
    const ex = await createFeaturePool({ ...tfjsOptions, workers: 1 });
    try {
      expect(ex.description).toMatch(/^tfjs-wasm/);
    } finally {
      await ex.dispose();
    }
  });

  it("refuses a bad batch with EPHYS_BAD_FEATURE_REQUEST and a bad worker count", async () => {
    await expect(createFeaturePool({ ...tfjsOptions, workers: 0 })).rejects.toMatchObject({
      code: "EPHYS_BAD_FEATURE_REQUEST",
      message: /workers: got 0/,
    });
    const pool = await createFeaturePool({ ...tfjsOptions, workers: 2, threads: 2 });
    try {
      await expect(pool.extract(new Float32Array(10), 1, SIZE)).rejects.toMatchObject({
        code: "EPHYS_BAD_FEATURE_REQUEST",
      });
    } finally {
      await pool.dispose();
    }
  });

  it("reports a weights file the workers cannot read with the extractor's code", async () => {
    await expect(
      createFeaturePool({
        arch: "resnet18",
        variant: "torchvision",
        layer: "layer4.1",
        weightsPath: "/nonexistent/weights.safetensors",
        executor: "tfjs",
        tfjsBackend: "wasm",
        workers: 2,
      }),
    ).rejects.toMatchObject({ code: "EPHYS_BAD_WEIGHTS" });
  });
});
