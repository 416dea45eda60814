// The render loop (lucent render_vis, without drawing or saving): Adam on the parameterization's parameters to
// maximize Σ_images objective(transform(image)), seeded, with progress and abort. Returns arrays and the trace.
import * as tf from "@tensorflow/tfjs-core";
import "../backbone/tfjs-gradients.ts";
import type { DifferentiableTap } from "../backbone/differentiable-tap.ts";
import { mulberry32, type Random } from "../random.ts";
import { check, OptvisError } from "./errors.ts";
import type { Objective, ObjectiveContext } from "./objectives.ts";
import type { Parameterization } from "./param.ts";
import { composeAffine, resample, resizeAffine, resizeResampling } from "./resample.ts";
import { applyGeometry, standardTransforms, type Transform } from "./transforms.ts";

export const RENDER_DEFAULTS = { steps: 512, learningRate: 0.05, seed: 0 } as const;

export interface RenderProgress {
  step: number;
  steps: number;
  /** Objective summed over the batch at this step (on the transformed images, before the update). */
  value: number;
}

/** Taps by name, as the objectives name them. */
export type TapMap = Readonly<Record<string, DifferentiableTap>>;

export interface RenderOptions {
  param: Parameterization;
  objective: Objective;
  taps: TapMap;
  /** Default: standardTransforms(); compose() for none. */
  transforms?: Transform;
  /**
   * Size the transformed batch is resized to before the backbone (bilinear): default the parameterization's
   * own size, so the network always sees the same input shape; null: as the transforms leave it.
   */
  inputSize?: { height: number; width: number } | null;
  steps?: number;
  learningRate?: number;
  /** Seed of the transforms' random choices (the parameterization has its own). */
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: RenderProgress) => void;
}

export interface RenderResult {
  n: number;
  height: number;
  width: number;
  /** The optimized images [n, H, W, 3] in [0, 1]. */
  images: Float32Array;
  /** Objective summed over the batch at every step (transformed images, before that step's update). */
  trace: Float32Array;
  /** Objective per image on the initial and on the final images, without transforms. */
  initial: Float32Array;
  final: Float32Array;
  seconds: number;
  /** Every setting of the run, for the stored parameters. */
  settings: {
    steps: number;
    learningRate: number;
    optimizer: string;
    seed: number;
    objective: string;
    transforms: string;
    parameterization: Record<string, unknown>;
    inputSize: { height: number; width: number } | null;
  };
}

/** An ObjectiveContext over `rgb01` (the batch the taps see, [0, 1]) that runs each tap once. */
function context(taps: TapMap, image: tf.Tensor4D, seen: tf.Tensor4D): ObjectiveContext {
  const memo = new Map<string, tf.Tensor4D>();
  let rgb: tf.Tensor4D | null = null;
  return {
    image,
    tap(name) {
      let a = memo.get(name);
      if (!a) {
        const f = taps[name];
        check(f !== undefined, "tap", name, `one of ${Object.keys(taps).join(", ") || "(no taps given)"}`);
        rgb ??= tf.mul(seen, 255) as tf.Tensor4D;
        a = f(rgb);
        memo.set(name, a);
      }
      return a;
    },
  };
}

/** The objective per image for a batch of images [n, H, W, 3] in [0, 1] (no transforms; no gradients). */
export async function evaluateObjective(
  objective: Objective,
  taps: TapMap,
  images: tf.Tensor4D,
): Promise<Float32Array> {
  const v = tf.tidy(() => objective.value(context(taps, images, images)));
  const data = (await v.data()) as Float32Array;
  v.dispose();
  return Float32Array.from(data);
}

/**
 * The batch the network sees: the transforms, then a resize to `inputSize` — one resampling through the composed
 * map when the transforms are geometric (transforms.ts), else step by step.
 */
function transformed(
  image: tf.Tensor4D,
  transforms: Transform,
  inputSize: { height: number; width: number } | null,
  random: Random,
): tf.Tensor4D {
  const [, h, w] = image.shape;
  if (transforms.geometry) {
    let g = transforms.geometry(h, w, random);
    if (inputSize && (g.outHeight !== inputSize.height || g.outWidth !== inputSize.width)) {
      const resize = resizeAffine(g.outHeight, g.outWidth, inputSize.height, inputSize.width);
      g = {
        ...g,
        outHeight: inputSize.height,
        outWidth: inputSize.width,
        source: composeAffine(g.source, resize),
      };
    }
    return applyGeometry(image, g);
  }
  let seen = transforms.apply(image, random);
  const [, th, tw] = seen.shape;
  if (inputSize && (th !== inputSize.height || tw !== inputSize.width)) {
    seen = resample(seen, resizeResampling(th, tw, inputSize.height, inputSize.width));
  }
  return seen;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

export async function render(o: RenderOptions): Promise<RenderResult> {
  const steps = o.steps ?? RENDER_DEFAULTS.steps;
  const learningRate = o.learningRate ?? RENDER_DEFAULTS.learningRate;
  const seed = o.seed ?? RENDER_DEFAULTS.seed;
  check(Number.isInteger(steps) && steps >= 1, "steps", steps, "a whole number of steps ≥ 1");
  check(Number.isFinite(learningRate) && learningRate > 0, "learningRate", learningRate, "a positive rate");
  check(Number.isInteger(seed), "seed", seed, "an integer");
  for (const t of o.objective.taps) {
    check(o.taps[t] !== undefined, "tap", t, `one of ${Object.keys(o.taps).join(", ") || "(no taps given)"}`);
  }
  const { param, objective } = o;
  const transforms = o.transforms ?? standardTransforms();
  const inputSize = o.inputSize === undefined ? { height: param.height, width: param.width } : o.inputSize;
  // A first evaluation without the tape: shape errors (taps, feature indices, readout sizes) surface here, where
  // tf.tidy releases everything, rather than inside the gradient computation.
  const start = param.image();
  let initial: Float32Array;
  try {
    initial = await evaluateObjective(objective, o.taps, start);
  } finally {
    start.dispose();
  }
  const random = mulberry32(seed);
  // ε = 1e-8 as PyTorch's Adam (tfjs defaults to the backend's epsilon).
  const optimizer = tf.train.adam(learningRate, 0.9, 0.999, 1e-8);
  const trace = new Float32Array(steps);
  const started = performance.now();
  try {
    for (let step = 0; step < steps; step++) {
      if (o.signal?.aborted)
        throw new OptvisError("EPHYS_ABORTED", `optvis: aborted at step ${step} of ${steps}`);
      const cost = optimizer.minimize(
        () => {
          const image = param.image();
          const seen = transformed(image, transforms, inputSize, random);
          return tf.neg(tf.sum(objective.value(context(o.taps, image, seen)))) as tf.Scalar;
        },
        true,
        param.params,
      );
      const value = -(await cost!.data())[0];
      cost!.dispose();
      check(Number.isFinite(value), "objective", value, `a finite value at step ${step}`);
      trace[step] = value;
      o.onProgress?.({ step: step + 1, steps, value });
      await tick();
    }
  } finally {
    optimizer.dispose();
  }
  const image = param.image();
  try {
    const final = await evaluateObjective(objective, o.taps, image);
    const images = Float32Array.from((await image.data()) as Float32Array);
    return {
      n: param.n,
      height: param.height,
      width: param.width,
      images,
      trace,
      initial,
      final,
      seconds: (performance.now() - started) / 1000,
      settings: {
        steps,
        learningRate,
        optimizer: "adam(β1 0.9, β2 0.999, ε 1e-8)",
        seed,
        objective: objective.description,
        transforms: transforms.description,
        parameterization: param.settings,
        inputSize,
      },
    };
  } finally {
    image.dispose();
  }
}
