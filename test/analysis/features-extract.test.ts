// The feature extractor against PyTorch (test/reference/backbone_reference.py fixtures: narrow ResNets whose shape
// is read from the state dict), on ONNX Runtime and on tfjs; weights provenance and option errors.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { onnxAvailable } from "../../analysis/backbone/onnx-executor.ts";
import { parseSafetensors } from "../../analysis/backbone/weights-safetensors.ts";
import {
  createFeatureExtractor,
  type ExecutorChoice,
  inferResNetShape,
} from "../../analysis/features/extract.ts";
import { loadReference, relativeError } from "./backbone-fixtures.ts";

const TOLERANCE = 1e-4;
if (!(await onnxAvailable()))
  throw new Error(
    "onnxruntime-node does not load on this machine; these suites need it (npm ci installs it)",
  );

/** Square cases of a fixture with their features at each tap. */
function squareCases(name: string) {
  const ref = loadReference(name);
  return {
    ref,
    cases: ref.cases
      .filter((c) => c.height === c.width)
      .flatMap((c) =>
        Object.entries(c.features).map(([tap, array]) => ({ size: c.height, image: c.image, tap, array })),
      ),
  };
}

describe.each([
  ["resnet18-w8", "onnx"],
  ["resnet18-w8", "tfjs"],
  ["resnet50caffe-w8", "onnx"],
] as const)("extractor on %s with %s", (fixture, executor: ExecutorChoice) => {
  it("matches PyTorch at every tap, image and batch position", async () => {
    const { ref, cases } = squareCases(fixture);
    expect(cases.length).toBeGreaterThanOrEqual(2);
    for (const tap of new Set(cases.map((c) => c.tap))) {
      const extractor = await createFeatureExtractor({
        arch: ref.arch,
        variant: ref.variant,
        layer: tap,
        weightsPath: ref.weightsPath,
        executor,
        tfjsBackend: "wasm",
        threads: 2,
      });
      try {
        expect(extractor.executorName).toBe(executor === "onnx" ? "onnx" : "tfjs-wasm");
        expect(extractor.description).toMatch(
          executor === "onnx" ? /^onnx on cpu \(onnxruntime-node, 2 threads\)/ : /^tfjs-wasm/,
        );
        for (const c of cases.filter((x) => x.tap === tap)) {
          const image = ref.array(c.image).data;
          const expected = ref.array(c.array);
          // the image twice in one batch: both positions must give the reference
          const batch = new Float32Array(image.length * 2);
          batch.set(image, 0);
          batch.set(image, image.length);
          const maps = await extractor.extract(batch, 2, c.size);
          const [, h, w, ch] = expected.shape;
          expect([maps.n, maps.h, maps.w, maps.c]).toEqual([2, h, w, ch]);
          expect(extractor.featureShape(c.size)).toEqual([h, w, ch]);
          const per = h * w * ch;
          expect(relativeError(maps.data.subarray(0, per), expected.data)).toBeLessThan(TOLERANCE);
          expect(relativeError(maps.data.subarray(per), expected.data)).toBeLessThan(TOLERANCE);
        }
      } finally {
        await extractor.dispose();
      }
    }
  });
});

describe("extractor provenance and options", () => {
  const ref = loadReference("resnet18-w8");

  it("reads a narrow ResNet's shape from its state dict", () => {
    const tensors = parseSafetensors(readFileSync(ref.weightsPath));
    expect(inferResNetShape(tensors)).toEqual(ref.shape);
    expect(
      inferResNetShape(parseSafetensors(readFileSync(loadReference("resnet50caffe-w8").weightsPath))),
    ).toEqual({
      layers: [1, 2, 2, 2],
      width: 8,
    });
    expect(inferResNetShape(new Map())).toBeNull();
  });

  it("weightsSha256 is sha256sum of the .safetensors file; imageSize defaults to 224", async () => {
    const extractor = await createFeatureExtractor({
      arch: "resnet18",
      variant: "torchvision",
      layer: "layer3.1",
      weightsPath: ref.weightsPath,
      executor: "tfjs",
      tfjsBackend: "wasm",
    });
    const sum = execFileSync("sha256sum", [ref.weightsPath]).toString().split(" ")[0];
    expect(extractor.weightsSha256).toBe(sum);
    expect(extractor.weightsSource).toBe(ref.weightsPath);
    expect(extractor.imageSize).toBe(224);
    expect([extractor.arch, extractor.variant, extractor.layer]).toEqual([
      "resnet18",
      "torchvision",
      "layer3.1",
    ]);
    await expect(extractor.extract(new Float32Array(10), 1, 64)).rejects.toMatchObject({
      code: "EPHYS_BAD_FEATURE_REQUEST",
      message: expect.stringContaining("expected n·size·size·3"),
    });
    await extractor.dispose();
  });

  it("the tfjs path leaves no tensors behind: none per extract, none after dispose", async () => {
    const tf = await import("@tensorflow/tfjs-core");
    const before = tf.memory().numTensors;
    const extractor = await createFeatureExtractor({
      arch: "resnet18",
      variant: "torchvision",
      layer: "layer4.1",
      weightsPath: ref.weightsPath,
      executor: "tfjs",
      tfjsBackend: "wasm",
    });
    expect(tf.getBackend()).toBe("wasm");
    const held = tf.memory().numTensors;
    expect(held).toBeGreaterThan(before); // the backbone's weights
    await extractor.extract(new Float32Array(2 * 64 * 64 * 3).fill(100), 2, 64);
    await extractor.extract(new Uint8Array(64 * 64 * 3).fill(7), 1, 64);
    expect(tf.memory().numTensors).toBe(held);
    await extractor.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("refuses mismatched arch, embedded weights without keras, an unknown executor, a missing file", async () => {
    await expect(
      createFeatureExtractor({
        arch: "resnet50",
        variant: "torchvision",
        layer: "layer4.1",
        weightsPath: ref.weightsPath,
      }),
    ).rejects.toMatchObject({ code: "EPHYS_BAD_WEIGHTS", message: expect.stringContaining("basic blocks") });
    await expect(
      createFeatureExtractor({ arch: "resnet50", variant: "torchvision", layer: "layer4.1" }),
    ).rejects.toMatchObject({
      code: "EPHYS_BAD_WEIGHTS",
      message: expect.stringContaining("expected arch resnet50 with variant keras"),
    });
    await expect(
      createFeatureExtractor({
        arch: "resnet18",
        variant: "torchvision",
        layer: "layer4.1",
        weightsPath: ref.weightsPath,
        executor: "gpu" as ExecutorChoice,
      }),
    ).rejects.toMatchObject({ code: "EPHYS_BAD_FEATURE_REQUEST" });
    await expect(
      createFeatureExtractor({
        arch: "resnet18",
        variant: "torchvision",
        layer: "layer4.1",
        weightsPath: "/nonexistent.safetensors",
      }),
    ).rejects.toMatchObject({
      code: "EPHYS_BAD_WEIGHTS",
      message: expect.stringContaining("/nonexistent.safetensors"),
    });
    await expect(
      createFeatureExtractor({
        arch: "resnet18",
        variant: "torchvision",
        layer: "layer9.0",
        weightsPath: ref.weightsPath,
      }),
    ).rejects.toMatchObject({ code: "EPHYS_BAD_BACKBONE" });
  });
});
