// Robust weights end to end: checkpoints laid out as robust ResNet releases are (the robustness library's
// module.model./module.attacker.model./normalizer, RobustBench's model./normalize, a bare state dict), made here by
// test/reference/robust_weights_reference.py from one random tiny-width ResNet-50-depth network, converted by the
// lab's script test/reference/torch_checkpoint_to_safetensors.py, loaded through the project's reader (as a day
// loads config weights.path), and compared with what PyTorch computes on the robustness-library model itself:
// features at two taps and input gradients (a dense cotangent, and two bilinear readouts as saliency uses them).
// An integration suite: it runs python3-torch in child processes (~10 s of the ~20 s).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeResNet } from "../../analysis/backbone/describe.ts";
import { createGradientBackbone } from "../../analysis/backbone/gradient-engine.ts";
import { onnxAvailable } from "../../analysis/backbone/onnx-executor.ts";
import { parseSafetensors, readSafetensorsWeights } from "../../analysis/backbone/weights-safetensors.ts";
import { createFeatureExtractor } from "../../analysis/features/index.ts";
import { relativeError } from "./backbone-fixtures.ts";

const PYTHON = "/usr/bin/python3";
const CONVERT = resolve("test/reference/torch_checkpoint_to_safetensors.py");
const TOLERANCE = 1e-4;
const run = promisify(execFile);
if (!(await onnxAvailable()))
  throw new Error(
    "onnxruntime-node does not load on this machine; these suites need it (npm ci installs it)",
  );

interface Reference {
  shape: { layers: [number, number, number, number]; width: number };
  keys: string[];
  images: Array<{
    height: number;
    width: number;
    rgb: number[];
    features: Record<string, { shape: number[]; data: number[] }>;
    gradient?: { tap: string; cotangent: number[]; gradient: number[] };
    readout?: { tap: string; location: [number, number]; weights: number[]; gradient: number[] };
  }>;
}

const dir = mkdtempSync(join(tmpdir(), "robust-weights-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let ref: Reference;
const converted: Record<string, { code: number; stdout: string; stderr: string }> = {};

async function convert(name: string, ...flags: string[]) {
  try {
    const { stdout, stderr } = await run(PYTHON, [CONVERT, join(dir, `${name}.pt`), out(name), ...flags]);
    converted[name] = { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    converted[name] = { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
const out = (name: string) => join(dir, `${name}.safetensors`);

beforeAll(async () => {
  await run(PYTHON, [resolve("test/reference/robust_weights_reference.py"), dir]);
  ref = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as Reference;
  await Promise.all([
    convert("robustness"),
    convert("robustbench", "--dtype", "f16"),
    convert("bare"),
    convert("cifar"),
  ]);
}, 60_000);

describe("torch_checkpoint_to_safetensors.py", () => {
  it("strips the robustness library's module.model. prefix, drops the attacker copy and the normalizer", () => {
    const c = converted.robustness;
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain(`checkpoint["model"]; prefix 'module.model.' stripped`);
    expect(c.stdout).toContain("dropped 320 tensors under 'module.attacker.model.'");
    expect(c.stdout).toContain("module.normalizer.new_mean");
    const tensors = parseSafetensors(readFileSync(out("robustness")));
    expect([...tensors.keys()].sort()).toEqual([...ref.keys].sort());
    expect(tensors.get("conv1.weight")!.dtype).toBe("F32");
    expect(tensors.get("bn1.num_batches_tracked")!.dtype).toBe("I64");
  });

  it("reads RobustBench's {state_dict: model.*, normalize.*} and a bare state dict to the same tensors", () => {
    expect(converted.robustbench.code, converted.robustbench.stderr).toBe(0);
    expect(converted.robustbench.stdout).toContain(`checkpoint["state_dict"]; prefix 'model.' stripped`);
    expect(converted.bare.code, converted.bare.stderr).toBe(0);
    const f32 = parseSafetensors(readFileSync(out("robustness")));
    const bare = parseSafetensors(readFileSync(out("bare")));
    const f16 = parseSafetensors(readFileSync(out("robustbench")));
    const offRounding: string[] = [];
    for (const [name, t] of f32) {
      expect(bare.get(name)!.data, name).toEqual(t.data);
      if (!t.data) continue;
      expect(f16.get(name)!.dtype).toBe("F16");
      const h = f16.get(name)!.data!;
      // float16 keeps 11 significant bits: |x − half(x)| ≤ 2^-11·|x| (normal range) or half the smallest step.
      t.data.forEach((v, i) => {
        if (!(Math.abs(h[i] - v) <= Math.abs(v) * 2 ** -11 + 2 ** -25)) offRounding.push(`${name}[${i}]`);
      });
    }
    expect(offRounding).toEqual([]);
  });

  it("refuses a normalizer other than ImageNet's, naming the key and the expected values", () => {
    expect(converted.cifar.code).toBe(1);
    expect(converted.cifar.stderr).toContain(
      "module.normalizer.new_mean: [0.4914, 0.4822, 0.4465]; expected torchvision's ImageNet mean [0.485, 0.456, 0.406]",
    );
  });
});

describe("converted robust weights in the project's backbone vs PyTorch on the robustness-library model", () => {
  it("features at layer3.1 and layer4.1 (the extractor a day builds from weights.path)", async () => {
    for (const tap of ["layer3.1", "layer4.1"]) {
      const extractor = await createFeatureExtractor({
        arch: "resnet50",
        variant: "torchvision",
        layer: tap,
        weightsPath: out("robustness"),
        executor: "onnx",
        threads: 2,
      });
      try {
        // The shape (blocks per stage, width 8) is read from the file, and its sha256 is what provenance records.
        expect(extractor.weightsSha256).toBe(
          createHash("sha256")
            .update(readFileSync(out("robustness")))
            .digest("hex"),
        );
        for (const image of ref.images) {
          // The extractor takes square images; the backbone itself takes any size (the gradient test below).
          if (image.height !== image.width) continue;
          const maps = await extractor.extract(Uint8Array.from(image.rgb), 1, image.height);
          const expected = image.features[tap];
          expect([maps.n, maps.h, maps.w, maps.c]).toEqual(expected.shape);
          expect(relativeError(maps.data, expected.data), tap).toBeLessThan(TOLERANCE);
        }
      } finally {
        await extractor.dispose();
      }
    }
  });

  it("features of a non-square image, input gradients of a dense cotangent and of two readouts", async () => {
    const desc = describeResNet("resnet50", "torchvision", undefined, ref.shape);
    const weights = await readSafetensorsWeights(out("robustness"), desc);
    const engine = await createGradientBackbone(desc, weights, { engine: "auto", threads: 2 });
    try {
      const errors: Record<string, number> = {};
      for (const [i, image] of ref.images.entries()) {
        const batch = { data: Float32Array.from(image.rgb), n: 1, height: image.height, width: image.width };
        for (const [tap, expected] of Object.entries(image.features)) {
          const f = await engine.features(tap, batch);
          expect(f.shape).toEqual(expected.shape);
          errors[`features ${tap} image ${i}`] = relativeError(f.data, expected.data);
        }
        if (image.gradient) {
          const { tap, cotangent, gradient } = image.gradient;
          const g = await engine.inputGradients(tap, batch, Float32Array.from(cotangent), 1);
          errors[`gradient ${tap}`] = relativeError(g, gradient);
        }
        if (image.readout) {
          const { tap, location, weights: rows, gradient } = image.readout;
          const g = await engine.readoutGradients(tap, batch, location, Float32Array.from(rows), 2);
          const per = gradient.length / 2;
          for (let k = 0; k < 2; k++) {
            errors[`readout ${k} ${tap}`] = relativeError(
              g.subarray(k * per, (k + 1) * per),
              gradient.slice(k * per, (k + 1) * per),
            );
          }
        }
      }
      console.log(
        `robust weights (${engine.engine}) vs PyTorch: ` +
          Object.entries(errors)
            .map(([k, v]) => `${k} ${v.toExponential(1)}`)
            .join(", "),
      );
      expect(Object.keys(errors)).toHaveLength(7);
      expect(Math.max(...Object.values(errors))).toBeLessThan(TOLERANCE);
    } finally {
      engine.dispose();
    }
  });
});
