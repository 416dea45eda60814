// analysis/optvis against independent references (test/reference/optvis_reference.py): the Fourier
// parameterization against numpy's irfft2, rotation against scipy.ndimage.rotate, resizing against PyTorch's
// interpolate, and whole render loops (readout + diversity + L2 + TV objective, Adam) against PyTorch autograd.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { selectTfjsBackend } from "../../analysis/backbone/tfjs-backend.ts";
import {
  colorCorrelationNormalized,
  compose,
  disposeIrfft2,
  diversityObjective,
  fourierImage,
  irfft2,
  irfft2Tensors,
  l2Penalty,
  pixelImage,
  readoutObjective,
  render,
  resample,
  resizeResampling,
  rotationResampling,
  spectrumScale,
  tvPenalty,
} from "../../analysis/optvis/index.ts";
import { loadOptvisFixture, maxAbsDiff, medianAbsDiff } from "./optvis-fixture.ts";

const fx = loadOptvisFixture();

beforeAll(async () => {
  expect((await selectTfjsBackend("wasm")).name).toBe("wasm");
});

describe("Fourier parameterization vs numpy", () => {
  it("the decorrelated-colour matrix is lucent's", () => {
    expect(maxAbsDiff(colorCorrelationNormalized(), fx.colorMatrix.flat())).toBeLessThan(1e-7);
  });

  it.each(fx.fourier.map((c) => [`${c.height}×${c.width}`, c] as const))(
    "%s: spectrum scale, irfft2 (norm ortho) and the image match",
    async (_, c) => {
      const before = tf.memory().numTensors;
      expect(maxAbsDiff(spectrumScale(c.height, c.width), fx.array(c.scale).data)).toBeLessThan(1e-4);
      const re = fx.array(c.re);
      const im = fx.array(c.im);
      const m = irfft2Tensors(c.height, c.width);
      const planes = tf.tidy(() => {
        const s = tf.tensor2d(spectrumScale(c.height, c.width), [c.height, Math.floor(c.width / 2) + 1]);
        const shape = re.shape as [number, number, number];
        return irfft2(
          tf.mul(tf.tensor3d(re.data, shape), s) as tf.Tensor3D,
          tf.mul(tf.tensor3d(im.data, shape), s) as tf.Tensor3D,
          m,
        );
      });
      // Spectra of N(0, 1) entries scaled by up to max(h, w): planes of order 10; float32 sums of ≤ 64 terms.
      expect(maxAbsDiff(await planes.data(), fx.array(c.planes).data)).toBeLessThan(2e-5);
      tf.dispose(planes);
      disposeIrfft2(m);
      const p = fourierImage({
        n: c.n,
        height: c.height,
        width: c.width,
        initial: { re: re.data, im: im.data },
      });
      const img = p.image();
      expect(img.shape).toEqual([c.n, c.height, c.width, 3]);
      expect(maxAbsDiff(await img.data(), fx.array(c.image).data)).toBeLessThan(1e-5);
      img.dispose();
      p.dispose();
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});

describe("geometric transforms vs SciPy and PyTorch", () => {
  const input = fx.array(fx.transforms.input);
  it.each(fx.transforms.rotations.map((r) => [r.degrees, r] as const))(
    "rotation by %s° equals scipy.ndimage.rotate (order 1, grid-constant 0.5)",
    async (_, r) => {
      const out = tf.tidy(() =>
        resample(tf.tensor4d(input.data, [1, 9, 11, 3]), rotationResampling(9, 11, r.degrees, 0.5)),
      );
      expect(maxAbsDiff(await out.data(), fx.array(r.output).data)).toBeLessThan(1e-5);
      out.dispose();
    },
  );
  it.each(fx.transforms.resizes.map((r) => [`${r.height}×${r.width}`, r] as const))(
    "resize 9×11 → %s equals torch interpolate (bilinear, align_corners=False)",
    async (_, r) => {
      const out = tf.tidy(() =>
        resample(tf.tensor4d(input.data, [1, 9, 11, 3]), resizeResampling(9, 11, r.height, r.width)),
      );
      expect(out.shape).toEqual([1, r.height, r.width, 3]);
      expect(maxAbsDiff(await out.data(), fx.array(r.output).data)).toBeLessThan(1e-5);
      out.dispose();
    },
  );
});

describe("render loop vs PyTorch autograd + Adam", () => {
  it.each(fx.render.map((c) => [c.kind, c] as const))(
    "%s: trace, final images and final values match over 20 steps",
    async (_, c) => {
      const before = tf.memory().numTensors;
      const cw = fx.array(c.convWeight); // [out, in, kh, kw]
      const kernel = tf.tensor4d(cw.data, [4, 3, 3, 3]);
      const hwio = tf.transpose(kernel, [2, 3, 1, 0]) as tf.Tensor4D;
      const bias = tf.tensor1d(fx.array(c.convBias).data);
      const tap = (rgb: tf.Tensor4D) =>
        tf.relu(tf.add(tf.conv2d(tf.div(rgb, 255) as tf.Tensor4D, hwio, 1, "same"), bias)) as tf.Tensor4D;
      const objective = readoutObjective("conv", {
        channelId: "ref",
        location: c.location,
        weights: fx.array(c.readoutWeights).data,
        bias: c.readoutBias,
      })
        .plus(diversityObjective("conv", c.diversity))
        .plus(l2Penalty(c.l2))
        .plus(tvPenalty(c.tv));
      const shape = { n: c.n, height: c.height, width: c.width };
      const param =
        c.kind === "pixels"
          ? pixelImage({ ...shape, initial: fx.array(c.initial!).data })
          : fourierImage({
              ...shape,
              initial: { re: fx.array(c.initialRe!).data, im: fx.array(c.initialIm!).data },
            });
      const r = await render({
        param,
        objective,
        taps: { conv: tap },
        transforms: compose(),
        steps: c.steps,
        learningRate: c.learningRate,
      });
      param.dispose();
      tf.dispose([kernel, hwio, bias]);
      expect(tf.memory().numTensors).toBe(before);
      const trace = fx.array(c.trace).data;
      const images = fx.array(c.images).data;
      // float32 vs float64 over 20 Adam steps (values of order 1–10). Measured: trace within 5e-5; pixels: median
      // 2e-6, max 2e-6 (pixels) and 1.4e-3 (fourier: a |·| kink of TV or a ReLU crossed at step 18 by a value within
      // rounding of 0, on wasm and cpu alike). Asserted with margin on both.
      expect(maxAbsDiff(r.trace, trace)).toBeLessThan(5e-4);
      expect(maxAbsDiff(r.images, images)).toBeLessThan(c.kind === "pixels" ? 1e-4 : 5e-3);
      expect(medianAbsDiff(r.images, images)).toBeLessThan(2e-5);
      expect(maxAbsDiff(r.final, fx.array(c.final).data)).toBeLessThan(1e-3);
      expect(r.settings.objective).toBe(
        "channel ref (readout at (0.30, -0.20) over conv) − 0.5·similarity(Gram at conv) − 0.01·L2(x − 0.5) − 0.01·TV(x)",
      );
    },
  );
});
