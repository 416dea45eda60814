// The gradient pool (one engine per worker thread) against the single engine in this thread with the workers'
// intra-op threads (1): the same input gradients, bit for bit, on ONNX Runtime and on tfjs wasm, for k cotangents
// of one image and one cotangent per image, cut unevenly between workers; sizing, bad requests and closing.
import { describe, expect, it } from "vitest";
import type { GradientBackbone } from "../../analysis/backbone/gradient-engine.ts";
import { onnxAvailable } from "../../analysis/backbone/onnx-executor.ts";
import { tapShape } from "../../analysis/backbone/onnx-vjp-graph.ts";
import { mulberry32 } from "../../analysis/random.ts";
import { loadGradientBackbone } from "../../analysis/saliency/load-backbone.ts";
import { createGradientPool, type GradientPool } from "../../controller/compute/gradient-pool.ts";
import { loadReference } from "../analysis/backbone-fixtures.ts";
import { firstBitDifference } from "./bit-difference.ts";

if (!(await onnxAvailable()))
  throw new Error(
    "onnxruntime-node does not load on this machine; these suites need it (npm ci installs it)",
  );
const ref = loadReference("resnet18-w8");
const SIZE = 64;
const TAP = "layer4.1";
const source = { arch: ref.arch, variant: ref.variant, layer: TAP, weightsPath: ref.weightsPath };

function values(length: number, seed: number, scale: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length }, () => Math.floor(scale * random()));
}

describe.each([["onnx"], ["tfjs"]] as const)("gradient pool on %s", (engine) => {
  it("gives the single engine's gradients bit for bit, in cotangent order", async () => {
    const options = { engine, tfjsBackend: "wasm" } as const;
    const single: GradientBackbone = await loadGradientBackbone(source, { ...options, threads: 1 });
    let pool: GradientPool | undefined;
    try {
      pool = await createGradientPool(source, { ...options, threads: 2, workers: 2 });
      expect(pool.workers).toBe(2);
      expect(pool.summary).toBe(`2 workers × ${single.summary}`);
      expect(pool.engine).toBe(single.engine);
      expect(pool.chunkSize).toBe(2 * single.chunkSize);
      const [h, w, c] = tapShape(single.description, TAP, SIZE, SIZE);
      const one = { data: values(SIZE * SIZE * 3, 7, 256), n: 1, height: SIZE, width: SIZE };
      // k = 5 cotangents of one image: parts of 2 and 3
      const cot = values(5 * h * w * c, 11, 3).map((v) => v - 1);
      const expected = await single.inputGradients(TAP, one, cot, 5);
      expect(expected.some((v) => v !== 0)).toBe(true);
      expect(firstBitDifference(await pool.inputGradients(TAP, one, cot, 5), expected)).toBeNull();
      expect(cot.length).toBe(5 * h * w * c); // the caller's cotangents are not moved away
      // one-hot readout rows (the saliency path), k = 3, and a single row (one worker idle)
      const rows = new Float32Array(3 * c);
      for (const [j, f] of [5, 0, c - 1].entries()) rows[j * c + f] = 1;
      const readout = await single.readoutGradients(TAP, one, [0.2, -0.4], rows, 3);
      expect(
        firstBitDifference(await pool.readoutGradients(TAP, one, [0.2, -0.4], rows, 3), readout),
      ).toBeNull();
      const per = SIZE * SIZE * 3;
      const last = await pool.readoutGradients(TAP, one, [0.2, -0.4], rows.subarray(2 * c), 1);
      expect(firstBitDifference(last, readout.subarray(2 * per))).toBeNull();
      // one cotangent per image: images and cotangents cut together
      const three = { data: values(3 * per, 13, 256), n: 3, height: SIZE, width: SIZE };
      const cot3 = cot.subarray(0, 3 * h * w * c);
      const expected3 = await single.inputGradients(TAP, three, cot3, 3);
      expect(firstBitDifference(await pool.inputGradients(TAP, three, cot3, 3), expected3)).toBeNull();
      expect(three.data.length).toBe(3 * per);
      const f = await single.features(TAP, three);
      const g = await pool.features(TAP, three);
      expect(g.shape).toEqual(f.shape);
      expect(firstBitDifference(g.data, f.data)).toBeNull();
    } finally {
      single.dispose();
      await pool?.close();
    }
  }, 120_000);
});

describe("gradient pool errors and closing", () => {
  const options = { engine: "tfjs", tfjsBackend: "wasm" } as const;

  it("runs in this thread with one worker", async () => {
    const bb = await createGradientPool(source, { ...options, workers: 1 });
    try {
      expect(bb.workers).toBe(1);
      expect(bb.summary).toMatch(/^tfjs-wasm/);
    } finally {
      await bb.close();
    }
  });

  it("keeps the engine's codes for bad requests and bad weights, and refuses work once closed", async () => {
    await expect(createGradientPool(source, { ...options, workers: 0 })).rejects.toMatchObject({
      code: "EPHYS_BAD_BACKBONE",
      message: /workers: got 0/,
    });
    await expect(
      createGradientPool(
        { ...source, weightsPath: "/nonexistent/weights.safetensors" },
        { ...options, workers: 2 },
      ),
    ).rejects.toMatchObject({ code: "EPHYS_BAD_WEIGHTS" });
    const pool = await createGradientPool(source, { ...options, threads: 2 }); // tfjs wasm: a worker per thread
    expect(pool.workers).toBe(2);
    const one = { data: values(SIZE * SIZE * 3, 3, 256), n: 1, height: SIZE, width: SIZE };
    try {
      await expect(pool.inputGradients(TAP, one, new Float32Array(10), 2)).rejects.toMatchObject({
        code: "EPHYS_BAD_COTANGENT",
      });
      await expect(pool.readoutGradients(TAP, one, [0, 0], new Float32Array(10), 2)).rejects.toMatchObject({
        code: "EPHYS_BAD_COTANGENT",
      });
      // a tap the network lacks is refused in the worker and keeps the worker's code
      await expect(pool.features("layer9", one)).rejects.toMatchObject({ code: "EPHYS_BAD_BACKBONE" });
    } finally {
      await pool.close();
    }
    await expect(pool.features(TAP, one)).rejects.toThrow(/closed/);
  });
});
