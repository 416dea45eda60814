// Shared-feature maps from either gradient engine (ONNX Runtime's VJP graph, tfjs wasm) on the saliency fixture
// (test/reference/saliency_reference.py): the maps agree to 1e-4, and the ONNX maps match PyTorch as tfjs's do.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGradientBackbone, type GradientBackbone } from "../../analysis/backbone/gradient-engine.ts";
import { onnxAvailable } from "../../analysis/backbone/onnx-executor.ts";
import { loadBackboneWeights } from "../../analysis/saliency/load-backbone.ts";
import { sharedFeatureMaps } from "../../analysis/saliency/shared-features.ts";
import { relativeError } from "./backbone-fixtures.ts";
import { correlation, loadSaliencyFixture, relativeL2 } from "./saliency-fixture.ts";

const fx = loadSaliencyFixture();
if (!(await onnxAvailable()))
  throw new Error(
    "onnxruntime-node does not load on this machine; these suites need it (npm ci installs it)",
  );
let onnx: GradientBackbone;
let tfjs: GradientBackbone;

describe("sharedFeatureMaps on ONNX Runtime vs tfjs", () => {
  beforeAll(async () => {
    const { desc, weights } = await loadBackboneWeights({
      arch: fx.arch,
      variant: fx.variant,
      layer: fx.tap,
      weightsPath: fx.weightsPath,
    });
    onnx = await createGradientBackbone(desc, weights, { engine: "onnx", threads: 2 });
    tfjs = await createGradientBackbone(desc, weights, { engine: "tfjs", tfjsBackend: "wasm" });
  });
  afterAll(() => {
    onnx?.dispose();
    tfjs?.dispose();
  });

  it.each(fx.cases.map((c) => [c.name, c] as const))(
    "%s: same s, k and features; maps agree to 1e-4 and match PyTorch",
    async (_, c) => {
      const run = (backbone: GradientBackbone) =>
        sharedFeatureMaps({
          backbone,
          tap: fx.tap,
          readout: { location: fx.location, weights: fx.weights },
          xOut: fx.image(0),
          xIn: fx.image(1),
          sigma: c.sigma,
          epsilon: c.epsilon,
          method: c.method,
          igSteps: c.igSteps,
        });
      const a = await run(onnx);
      const b = await run(tfjs);
      expect(a.gradientEngine).toMatch(/^onnx /);
      expect(b.gradientEngine).toBe("tfjs-wasm");
      expect(a.k).toBe(b.k);
      expect(a.topFeatures.map((f) => f.index)).toEqual(b.topFeatures.map((f) => f.index));
      expect(a.s).toBeCloseTo(b.s, 6);
      const errors = [relativeError(a.outMap, b.outMap), relativeError(a.inMap, b.inMap)];
      console.log(
        `${c.name}: ONNX vs tfjs maps ${errors.map((e) => e.toExponential(2)).join(", ")} ` +
          `(k = ${a.k}; gradients ${a.gradientSeconds.toFixed(2)} s vs ${b.gradientSeconds.toFixed(2)} s)`,
      );
      expect(Math.max(...errors)).toBeLessThan(1e-4);
      for (const [got, name] of [
        [a.outMap, c.outMap],
        [a.inMap, c.inMap],
      ] as const) {
        const ref = fx.array(name).data;
        expect(correlation(got, ref), name).toBeGreaterThan(0.99);
        expect(relativeL2(got, ref), name).toBeLessThan(1e-5);
      }
    },
  );
});
