// The generated VJP graph (analysis/backbone/onnx-vjp-graph.ts) on ONNX Runtime against PyTorch
// (test/reference/backbone_reference.py, <name>-vjp fixtures: every tap, a dense batch, bilinear readouts) and
// against the tfjs engine; tf.grad through onnxDifferentiableTap against tfjs's tape; the engine choice.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { describeResNet } from "../../analysis/backbone/describe.ts";
import type { FoldedWeights, NetworkDescription } from "../../analysis/backbone/description.ts";
import {
  createDifferentiableBackbone,
  type DifferentiableTap,
  onnxDifferentiableTap,
  tfjsDifferentiableTap,
} from "../../analysis/backbone/differentiable-tap.ts";
import {
  chooseGradientEngine,
  createGradientBackbone,
  type GradientBackbone,
  type ImageBatch,
  tfjsGradientBackbone,
} from "../../analysis/backbone/gradient-engine.ts";
import {
  createOnnxBackbone,
  loadOrt,
  onnxAvailable,
  ortSessionOptions,
} from "../../analysis/backbone/onnx-executor.ts";
import { createOnnxGradients, type OnnxGradients } from "../../analysis/backbone/onnx-gradients.ts";
import { buildVjpModel, tapShape } from "../../analysis/backbone/onnx-vjp-graph.ts";
import {
  createOrtSessionSync,
  createPublicOrtSession,
  syncBinding,
} from "../../analysis/backbone/ort-session.ts";
import { readoutCotangents } from "../../analysis/backbone/readout-cotangent.ts";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import { createTfjsBackbone } from "../../analysis/backbone/tfjs-executor.ts";
import { readSafetensorsWeights } from "../../analysis/backbone/weights-safetensors.ts";
import { loadVjpReference, relativeError, type VjpReference } from "./backbone-fixtures.ts";
import { asymmetricPaddingNetwork } from "./tiny-networks.ts";

const TOLERANCE = 1e-4;
const NAMES = ["resnet18-w8", "resnet50-w8", "resnet50caffe-w8"] as const;
if (!(await onnxAvailable()))
  throw new Error(
    "onnxruntime-node does not load on this machine; these suites need it (npm ci installs it)",
  );

interface Net {
  ref: VjpReference;
  desc: NetworkDescription;
  weights: FoldedWeights;
  /** Both fixture images [2, H, W, 3] and image 0 alone. */
  both: ImageBatch;
  first: ImageBatch;
}

async function net(name: string): Promise<Net> {
  const ref = loadVjpReference(name);
  const desc = describeResNet(ref.arch, ref.variant, undefined, ref.shape);
  const weights = await readSafetensorsWeights(ref.weightsPath, desc);
  const data = ref.array(ref.images).data;
  const { height, width } = ref;
  return {
    ref,
    desc,
    weights,
    both: { data, n: 2, height, width },
    first: { data: data.subarray(0, height * width * 3), n: 1, height, width },
  };
}

/** Relative error of each of the k rows (a one-hot row's gradient is much smaller than a dense row's). */
function rowErrors(got: Float32Array, expected: Float32Array, k: number): number[] {
  const per = expected.length / k;
  expect(got.length).toBe(expected.length);
  return Array.from({ length: k }, (_, j) =>
    relativeError(got.subarray(j * per, (j + 1) * per), expected.subarray(j * per, (j + 1) * per)),
  );
}

const worst = (errors: number[]) => Math.max(...errors).toExponential(2);

describe("ONNX VJP graph vs PyTorch", () => {
  for (const name of NAMES) {
    for (const adjoint of ["auto", "conv-transpose"] as const) {
      it(`${name}, ${adjoint} adjoints: every tap, a dense batch of two images, k = 3 readouts`, async () => {
        const { ref, desc, weights, both, first } = await net(name);
        const engine = await createOnnxGradients(desc, weights, { threads: 1, adjoint, maxGraphs: 2 });
        try {
          expect(Object.keys(ref.everyTap)).toEqual(Object.keys(desc.taps));
          const tapErrors: number[] = [];
          for (const [tap, { cotangent, gradient }] of Object.entries(ref.everyTap)) {
            const g = engine.inputGradientsSync(tap, first, ref.array(cotangent).data, 1);
            tapErrors.push(...rowErrors(g, ref.array(gradient).data, 1));
          }
          expect(Math.max(...tapErrors)).toBeLessThan(TOLERANCE);

          const batch = await engine.inputGradients(
            ref.batch.tap,
            both,
            ref.array(ref.batch.cotangent).data,
            2,
          );
          const batchErrors = rowErrors(batch, ref.array(ref.batch.gradient).data, 2);
          expect(Math.max(...batchErrors)).toBeLessThan(TOLERANCE);

          // Readouts at a bilinear location: in-graph scatter, and the same cotangents given densely.
          const { tap, location } = ref.readout;
          const readout = ref.array(ref.readout.weights).data;
          const expected = ref.array(ref.readout.gradient).data;
          const viaScatter = await engine.readoutGradients(tap, first, location, readout, 3);
          const [h, w, c] = tapShape(desc, tap, ref.height, ref.width);
          const dense = readoutCotangents(location, h, w, c, readout, 3);
          const viaDense = engine.inputGradientsSync(tap, first, dense, 3);
          const readoutErrors = [...rowErrors(viaScatter, expected, 3), ...rowErrors(viaDense, expected, 3)];
          expect(Math.max(...readoutErrors)).toBeLessThan(TOLERANCE);
          console.log(
            `${name} ${adjoint}: relative error vs PyTorch, ${tapErrors.length} taps ≤ ${worst(tapErrors)}, ` +
              `batch ≤ ${worst(batchErrors)}, readouts ≤ ${worst(readoutErrors)}`,
          );
        } finally {
          engine.dispose();
        }
      });
    }
  }
});

describe("ONNX VJP graph vs the tfjs engine (wasm)", () => {
  beforeAll(async () => {
    expect((await selectTfjsBackend("wasm")).name).toBe("wasm");
  });

  for (const name of NAMES) {
    it(`${name}: every tap, k one-hot readouts of one image, a dense batch; tfjs leaks nothing`, async () => {
      const { ref, desc, weights, both, first } = await net(name);
      const onnx = await createOnnxGradients(desc, weights, { threads: 2 });
      const tfjs = tfjsGradientBackbone(createTfjsBackbone(desc, weights));
      try {
        const errors: number[] = [];
        await tfjs.inputGradients(
          ref.batch.tap,
          first,
          ref.array(ref.everyTap[ref.batch.tap].cotangent).data,
          1,
        );
        const before = tf.memory().numTensors;
        for (const [tap, { cotangent }] of Object.entries(ref.everyTap)) {
          const cot = ref.array(cotangent).data;
          const a = await onnx.inputGradients(tap, first, cot, 1);
          errors.push(relativeError(a, await tfjs.inputGradients(tap, first, cot, 1)));
        }
        // k = 5 one-hot readouts at the deepest tap, near a corner (the scatter's weights are uneven there).
        const tap = ref.batch.tap;
        const c = desc.tapChannels[tap];
        const features = [0, 3, c - 1, 7, 3];
        const rows = new Float32Array(features.length * c);
        features.forEach((f, j) => {
          rows[j * c + f] = 1;
        });
        const location: [number, number] = [-0.8, 0.35];
        const oneHot = rowErrors(
          await onnx.readoutGradients(tap, first, location, rows, features.length),
          await tfjs.readoutGradients(tap, first, location, rows, features.length),
          features.length,
        );
        const cot = ref.array(ref.batch.cotangent).data;
        const batch = rowErrors(
          await onnx.inputGradients(tap, both, cot, 2),
          await tfjs.inputGradients(tap, both, cot, 2),
          2,
        );
        expect(tf.memory().numTensors).toBe(before);
        console.log(
          `${name}: ONNX vs tfjs wasm, ${errors.length} taps ≤ ${worst(errors)}, ` +
            `${features.length} one-hot readouts ≤ ${worst(oneHot)}, batch ≤ ${worst(batch)}`,
        );
        expect(Math.max(...errors, ...oneHot, ...batch)).toBeLessThan(TOLERANCE);
        // The features the two engines read are the same too.
        const fa = await onnx.features(tap, both);
        const fb = await tfjs.features(tap, both);
        expect(fa.shape).toEqual(fb.shape);
        expect(relativeError(fa.data, fb.data)).toBeLessThan(TOLERANCE);
      } finally {
        onnx.dispose();
        tfjs.dispose();
      }
    });
  }

  it("asymmetric paddings, a strided conv on an odd size and an overlapping pool: exact adjoints", async () => {
    const { desc, weights, rand } = asymmetricPaddingNetwork();
    const [height, width] = [23, 18];
    const data = Float32Array.from({ length: 2 * height * width * 3 }, () => 127.5 + 255 * rand());
    const both = { data, n: 2, height, width };
    const first = { data: data.subarray(0, height * width * 3), n: 1, height, width };
    const [h, w, c] = tapShape(desc, "block", height, width);
    expect([h, w, c]).toEqual([6, 3, 4]);
    const cot = Float32Array.from({ length: 2 * h * w * c }, rand);
    const tfjs = tfjsGradientBackbone(createTfjsBackbone(desc, weights));
    const oneImage = await tfjs.inputGradients("block", first, cot, 2);
    const batch = await tfjs.inputGradients("block", both, cot, 2);
    for (const adjoint of ["auto", "conv-transpose"] as const) {
      const onnx = await createOnnxGradients(desc, weights, { threads: 1, adjoint });
      expect(relativeError(await onnx.inputGradients("block", first, cot, 2), oneImage)).toBeLessThan(1e-5);
      expect(relativeError(onnx.inputGradientsSync("block", both, cot, 2), batch)).toBeLessThan(1e-5);
      onnx.dispose();
    }
    tfjs.dispose();
  });
});

describe("onnxDifferentiableTap (tf.customGrad over the forward and VJP graphs)", () => {
  let fx: Net;
  let onnx: OnnxGradients;
  beforeAll(async () => {
    await selectTfjsBackend("wasm");
    fx = await net("resnet50caffe-w8");
    onnx = await createOnnxGradients(fx.desc, fx.weights, { threads: 2 });
    return () => onnx.dispose();
  });

  it("the native session runs synchronously here (onnxruntime-node 1.30) and equals the public async API", async () => {
    expect("binding" in syncBinding()).toBe(true);
    expect(onnx.synchronous).toBe(true);
    const viaPublic = await createOnnxBackbone(fx.desc, fx.weights, { tap: "layer3.1", threads: 1 });
    const expected = await viaPublic.forward(fx.both.data, 2, fx.ref.height, fx.ref.width);
    await viaPublic.dispose();
    const sync = onnx.featuresSync("layer3.1", fx.both);
    expect(sync.shape).toEqual(expected.shape);
    expect(relativeError(sync.data, expected.data)).toBeLessThan(1e-6);
    expect((await onnx.features("layer3.1", fx.both)).data).toEqual(sync.data);

    // The VJP graph on the native session and on the public API (the fallback where the check fails).
    const ort = (await loadOrt())!;
    const bytes = buildVjpModel(fx.desc, fx.weights, {
      tap: "layer3.1",
      height: fx.ref.height,
      width: fx.ref.width,
    });
    const [h, w, c] = tapShape(fx.desc, "layer3.1", fx.ref.height, fx.ref.width);
    const feeds = {
      pixels: new ort.Tensor("float32", fx.first.data, [1, fx.ref.height, fx.ref.width, 3]),
      cotangent: new ort.Tensor(
        "float32",
        Float32Array.from({ length: 2 * h * w * c }, (_, i) => Math.cos(i)),
        [2, h, w, c],
      ),
    };
    const native = createOrtSessionSync(bytes, ortSessionOptions(1));
    const viaApi = await createPublicOrtSession(ort, bytes, ortSessionOptions(1), "testing the fallback");
    const a = native.runSync(feeds, ["gradient"]).gradient;
    expect(a.dims).toEqual([2, fx.ref.height, fx.ref.width, 3]);
    expect((await viaApi.run(feeds, ["gradient"])).gradient.data).toEqual(a.data);
    expect((await native.run(feeds, ["gradient"])).gradient.data).toEqual(a.data);
    expect(viaApi.synchronous).toBe(false);
    expect(() => viaApi.runSync(feeds, ["gradient"])).toThrow(
      expect.objectContaining({ code: "EPHYS_ORT_BINDING", message: "runSync: testing the fallback" }),
    );
    native.release();
    viaApi.release();
    expect(() => native.runSync(feeds, ["gradient"])).toThrow(/released/);
  });

  it("tf.grad and tf.variableGrads through it equal tfjs's, with tfjs ops before and after; no tensor leaks", async () => {
    const bb = createTfjsBackbone(fx.desc, fx.weights);
    const tap = "layer4.1";
    const viaOnnx = onnxDifferentiableTap(onnx, tap);
    const viaTfjs = tfjsDifferentiableTap(bb, tap);
    const [h, w, c] = tapShape(fx.desc, tap, fx.ref.height, fx.ref.width);
    const weight = tf.tensor4d(
      Float32Array.from({ length: h * w * c }, (_, i) => Math.sin(i)),
      [1, h, w, c],
    );
    // An objective as feature visualization writes one: a transform before the tap, a readout after it.
    const objective = (f: DifferentiableTap) => (x: tf.Tensor) =>
      tf.mean(tf.square(tf.mul(f(tf.add(tf.mul(x as tf.Tensor4D, 0.9), 12) as tf.Tensor4D), weight)));
    const images = tf.tensor4d(fx.both.data, [2, fx.ref.height, fx.ref.width, 3]);
    const reference = tf.grad(objective(viaTfjs))(images);
    tf.grad(objective(viaOnnx))(images).dispose(); // warm-up (builds the sessions)
    const before = tf.memory().numTensors;
    const g = tf.grad(objective(viaOnnx))(images);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(g.shape).toEqual(images.shape);
    const err = relativeError(await g.data(), await reference.data());
    expect(err).toBeLessThan(TOLERANCE);

    // tf.variableGrads over an image parameter, as an optimizer step takes it.
    const param = tf.variable(images);
    const loss = () => objective(viaOnnx)(param) as tf.Scalar;
    const { value, grads } = tf.variableGrads(loss, [param]);
    const vErr = relativeError(await grads[param.name].data(), await reference.data());
    expect(vErr).toBeLessThan(TOLERANCE);
    expect(Math.abs((await value.data())[0] - (await objective(viaTfjs)(images).data())[0])).toBeLessThan(
      TOLERANCE * Math.abs((await value.data())[0]),
    );
    console.log(`tf.grad via ONNX vs tfjs: ${err.toExponential(2)}; variableGrads ${vErr.toExponential(2)}`);
    tf.dispose([g, reference, weight, images, param, value, grads[param.name]]);
    bb.dispose();
  });

  it("the forward and backward halves give the whole graph's gradients (one image, k = 3; two images, k = 2)", () => {
    const tap = "layer3.1";
    const [h, w, c] = tapShape(fx.desc, tap, fx.ref.height, fx.ref.width);
    const cot = Float32Array.from({ length: 3 * h * w * c }, (_, i) => Math.sin(0.7 * i));
    for (const [images, k] of [
      [fx.first, 3],
      [fx.both, 2],
    ] as const) {
      const { features, state } = onnx.forwardWithStateSync(tap, images);
      // (the same values up to float rounding: the saved outputs change how ONNX Runtime fuses the forward)
      expect(relativeError(features.data, onnx.featuresSync(tap, images).data)).toBeLessThan(1e-6);
      const cotangents = cot.subarray(0, k * h * w * c);
      const halves = onnx.backwardFromStateSync(state, cotangents, k);
      expect(relativeError(halves, onnx.inputGradientsSync(tap, images, cotangents, k))).toBeLessThan(1e-6);
      if (images.n === 2) {
        expect(() => onnx.backwardFromStateSync(state, cot, 3)).toThrow(/k: got 3 cotangents for 2 image/);
      }
    }
    // The forward half saves the masks' ReLU outputs and the pool's int64 indices, nothing else.
    const { state } = onnx.forwardWithStateSync(tap, fx.first);
    expect(state.saved["maxpool:indices"].type).toBe("int64");
    expect(Object.keys(state.saved)).toContain("layer3.1");
    expect(Object.values(state.saved).every((t) => t.dims[0] === 1)).toBe(true);
  });

  it("refuses images that are not NHWC RGB and taps it does not have", () => {
    expect(() => onnxDifferentiableTap(onnx, "layer9.0")).toThrow(/tap: got "layer9.0"/);
    const f = onnxDifferentiableTap(onnx, "layer4.1");
    const gray = tf.zeros([1, 45, 39, 1]) as tf.Tensor4D;
    expect(() => f(gray)).toThrow(/expected NHWC \[n, height, width, 3\]/);
    gray.dispose();
  });
});

describe("engine choice and input checks", () => {
  it("auto picks ONNX here, tfjs when asked; the choice is named", async () => {
    await selectTfjsBackend("wasm");
    const { desc, weights } = await net("resnet18-w8");
    expect(await chooseGradientEngine("auto", true)).toEqual({ engine: "onnx", fallback: "" });
    const auto = await createDifferentiableBackbone(desc, weights, { threads: 1 });
    expect(auto.engine).toBe("onnx");
    expect(auto.summary).toMatch(
      /^onnx on cpu \(onnxruntime-node 1\.30\.\d+, 1 thread, synchronous native session\)$/,
    );
    auto.dispose();
    const forced = await createDifferentiableBackbone(desc, weights, { engine: "tfjs" });
    expect(forced.engine).toBe("tfjs-wasm");
    forced.dispose();
    const gb: GradientBackbone = await createGradientBackbone(desc, weights, {
      engine: "tfjs",
      tfjsBackend: "wasm",
    });
    expect([gb.engine, gb.summary, gb.chunkSize]).toEqual(["tfjs-wasm", "tfjs-wasm", 8]);
    gb.dispose();
    await expect(chooseGradientEngine("gpu" as never)).rejects.toMatchObject({ code: "EPHYS_BAD_BACKBONE" });
  });

  it("wrong cotangent sizes, batch mismatches and unknown taps fail with codes that name the field", async () => {
    const { desc, weights, both, first } = await net("resnet18-w8");
    const onnx = await createOnnxGradients(desc, weights, { threads: 1 });
    const [h, w, c] = tapShape(desc, "layer4.1", first.height, first.width);
    const cot = new Float32Array(3 * h * w * c);
    try {
      expect(() => onnx.inputGradientsSync("layer4.1", first, cot.subarray(1), 3)).toThrow(
        expect.objectContaining({
          code: "EPHYS_BAD_COTANGENT",
          message: expect.stringMatching(/^cotangents: got/),
        }),
      );
      await expect(onnx.inputGradients("layer4.1", both, cot, 3)).rejects.toMatchObject({
        code: "EPHYS_BAD_COTANGENT",
        message: expect.stringMatching(/k: got 3 cotangents for 2 image\(s\)/),
      });
      await expect(
        onnx.readoutGradients("layer4.1", first, [0, 0], new Float32Array(c - 1), 1),
      ).rejects.toMatchObject({
        code: "EPHYS_BAD_COTANGENT",
        message: expect.stringMatching(/readout: got/),
      });
      await expect(onnx.inputGradients("layer7.0", first, cot, 3)).rejects.toMatchObject({
        code: "EPHYS_BAD_BACKBONE",
      });
      await expect(
        onnx.features("layer4.1", { ...first, data: first.data.subarray(1) }),
      ).rejects.toMatchObject({ code: "EPHYS_BAD_IMAGE" });
    } finally {
      onnx.dispose();
    }
    await expect(onnx.features("layer4.1", first)).rejects.toThrow(/disposed/);
  });
});
