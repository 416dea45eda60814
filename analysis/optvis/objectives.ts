// Objectives (lucent's split): functions of the backbone's activations at taps (and of the image itself) giving a
// value per image of the batch, to maximize. They compose with plus / minus / times and carry a readable
// description that the stored parameters and the report print, e.g.
//   "channel ch3 (readout at (0.10, −0.20) over layer4.1) − 0.0001·L2(x − 0.5) − 1e-5·TV(x)".
import * as tf from "@tensorflow/tfjs-core";
import { bilinearTaps, type Location } from "../readout/index.ts";
import { check } from "./errors.ts";

/** What an objective sees during one step. */
export interface ObjectiveContext {
  /** Activations [n, h, w, c] of the transformed batch at `tap` (computed once per step and tap). */
  tap(name: string): tf.Tensor4D;
  /** The image batch before the transforms, [n, H, W, 3] in [0, 1]. */
  readonly image: tf.Tensor4D;
}

const wrap = (d: string) => (/[+−]/.test(d) ? `(${d})` : d);
const num = (k: number) => (Math.abs(k) >= 1e-3 && Math.abs(k) < 1e4 ? String(k) : k.toExponential());

export class Objective {
  constructor(
    /** Readable description, e.g. "layer1.0 unit 3 at (8, 8)". */
    readonly description: string,
    /** Taps whose activations it reads. */
    readonly taps: readonly string[],
    /** Value per image [n] (to maximize). */
    readonly value: (ctx: ObjectiveContext) => tf.Tensor1D,
  ) {}

  plus(other: Objective | number): Objective {
    if (typeof other === "number") {
      return new Objective(`${this.description} + ${num(other)}`, this.taps, (ctx) =>
        tf.add(this.value(ctx), other),
      );
    }
    const joined = other.description.startsWith("−")
      ? `${this.description} ${other.description.replace(/^−/, "− ")}`
      : `${this.description} + ${other.description}`;
    return new Objective(joined, [...new Set([...this.taps, ...other.taps])], (ctx) =>
      tf.add(this.value(ctx), other.value(ctx)),
    );
  }

  minus(other: Objective | number): Objective {
    if (typeof other === "number") return this.plus(-other);
    return this.plus(other.times(-1));
  }

  times(other: Objective | number): Objective {
    if (typeof other === "number") {
      const d = other === -1 ? `−${wrap(this.description)}` : `${num(other)}·${wrap(this.description)}`;
      return new Objective(d, this.taps, (ctx) => tf.mul(this.value(ctx), other));
    }
    return new Objective(
      `${wrap(this.description)} × ${wrap(other.description)}`,
      [...new Set([...this.taps, ...other.taps])],
      (ctx) => tf.mul(this.value(ctx), other.value(ctx)),
    );
  }
}

/** The sum of several objectives. */
export function sum(first: Objective, ...rest: Objective[]): Objective {
  return rest.reduce((a, b) => a.plus(b), first);
}

/** A Gaussian readout as an objective: its readout weights and location. */
export interface ReadoutSpec {
  channelId: string;
  /** μ in [−1, 1]² (x along the width, y along the height; align_corners=True, as the fitted readouts). */
  location: Location;
  weights: ArrayLike<number>;
  bias?: number;
}

/**
 * A channel's model prediction r̂(x) = Σ_i w_i·a_i(x) + b, a(x) the tap's features bilinearly sampled at μ
 * (the Gaussian readout at evaluation, analysis/readout/gaussian-readout.ts), in the channel's response units.
 */
export function readoutObjective(tap: string, readout: ReadoutSpec): Objective {
  const { location, weights } = readout;
  const bias = readout.bias ?? 0;
  check(
    location.length === 2 && location.every((v) => Number.isFinite(v) && Math.abs(v) <= 1),
    "readout.location",
    location,
    "[x, y] in [−1, 1]²",
  );
  check(weights.length > 0, "readout.weights", weights.length, "at least one weight");
  const w = Float32Array.from(weights);
  const desc = `channel ${readout.channelId} (readout at (${location[0].toFixed(2)}, ${location[1].toFixed(2)}) over ${tap})`;
  return new Objective(desc, [tap], (ctx) => {
    const a = ctx.tap(tap);
    const [n, h, wd, c] = a.shape;
    check(c === w.length, "readout.weights", w.length, `${c} weights (the features at ${tap})`);
    const taps = bilinearTaps(location[0], location[1], h, wd);
    let sampled: tf.Tensor | null = null;
    for (let k = 0; k < 4; k++) {
      const g = taps.weights[k];
      if (g === 0) continue;
      const p = taps.pixels[k];
      const px = tf.mul(tf.slice(a, [0, Math.floor(p / wd), p % wd, 0], [n, 1, 1, c]), g);
      sampled = sampled ? tf.add(sampled, px) : px;
    }
    const features = tf.reshape(sampled!, [n, c]);
    return tf.add(tf.reshape(tf.matMul(features, tf.tensor2d(w, [c, 1])), [n]), bias) as tf.Tensor1D;
  });
}

/** One backbone unit: feature `feature` of `tap` at map position (row, column) (default: the centre). */
export function unitObjective(tap: string, feature: number, at?: { row: number; column: number }): Objective {
  check(Number.isInteger(feature) && feature >= 0, "feature", feature, "a feature index ≥ 0");
  const where = at ? `(${at.row}, ${at.column})` : "the centre";
  return new Objective(`${tap} unit ${feature} at ${where}`, [tap], (ctx) => {
    const a = ctx.tap(tap);
    const [n, h, w, c] = a.shape;
    const row = at?.row ?? Math.floor(h / 2);
    const column = at?.column ?? Math.floor(w / 2);
    check(feature < c, "feature", feature, `an index below the ${c} features at ${tap}`);
    check(row >= 0 && row < h && column >= 0 && column < w, "at", at, `a position in the ${h}×${w} map`);
    return tf.reshape(tf.slice(a, [0, row, column, feature], [n, 1, 1, 1]), [n]) as tf.Tensor1D;
  });
}

/** One backbone feature map: the spatial mean of feature `feature` of `tap` (lucent's "channel"). */
export function featureObjective(tap: string, feature: number): Objective {
  check(Number.isInteger(feature) && feature >= 0, "feature", feature, "a feature index ≥ 0");
  return new Objective(`${tap} feature ${feature} (spatial mean)`, [tap], (ctx) => {
    const a = ctx.tap(tap);
    const [n, , , c] = a.shape;
    check(feature < c, "feature", feature, `an index below the ${c} features at ${tap}`);
    return tf.mean(tf.slice(a, [0, 0, 0, feature], [n, -1, -1, 1]), [1, 2, 3]) as tf.Tensor1D;
  });
}

/** −λ·Σ (x − c)² over each image's pixels and channels (x in [0, 1]; c = 0.5, mid-grey). */
export function l2Penalty(lambda: number, constant = 0.5): Objective {
  check(Number.isFinite(lambda) && lambda >= 0, "l2", lambda, "a penalty weight ≥ 0");
  return new Objective(
    `−${num(lambda)}·L2(x − ${constant})`,
    [],
    (ctx) => tf.mul(tf.sum(tf.square(tf.sub(ctx.image, constant)), [1, 2, 3]), -lambda) as tf.Tensor1D,
  );
}

/** −λ·TV(x), TV(x) = Σ |x[y+1, x] − x[y, x]| + |x[y, x+1] − x[y, x]| over each image (anisotropic). */
export function tvPenalty(lambda: number): Objective {
  check(Number.isFinite(lambda) && lambda >= 0, "tv", lambda, "a penalty weight ≥ 0");
  return new Objective(`−${num(lambda)}·TV(x)`, [], (ctx) => {
    const x = ctx.image;
    const [n, h, w, c] = x.shape;
    const dy = tf.sub(
      tf.slice(x, [0, 1, 0, 0], [n, h - 1, w, c]),
      tf.slice(x, [0, 0, 0, 0], [n, h - 1, w, c]),
    );
    const dx = tf.sub(
      tf.slice(x, [0, 0, 1, 0], [n, h, w - 1, c]),
      tf.slice(x, [0, 0, 0, 0], [n, h, w - 1, c]),
    );
    const tv = tf.add(tf.sum(tf.abs(dy), [1, 2, 3]), tf.sum(tf.abs(dx), [1, 2, 3]));
    return tf.mul(tv, -lambda) as tf.Tensor1D;
  });
}

/**
 * Diversity (lucent `diversity`): −λ·Σ_{j≠i} cos(G_i, G_j) / n for image i, G the Gram matrix FᵀF of its features
 * F [h·w, c] at `tap`; the batch total is lucent's −λ·Σ_i Σ_{j≠i} cos / n. Zero for a batch of one.
 */
export function diversityObjective(tap: string, lambda: number): Objective {
  check(Number.isFinite(lambda) && lambda >= 0, "diversity", lambda, "a weight ≥ 0");
  return new Objective(`−${num(lambda)}·similarity(Gram at ${tap})`, [tap], (ctx) => {
    const a = ctx.tap(tap);
    const [n, h, w, c] = a.shape;
    const f = tf.reshape(a, [n, h * w, c]);
    const gram = tf.reshape(tf.matMul(f, f, true, false), [n, c * c]);
    const norm = tf.add(tf.sqrt(tf.sum(tf.square(gram), 1, true)), 1e-12);
    const unit = tf.div(gram, norm);
    const cos = tf.matMul(unit, unit, false, true); // [n, n]
    const offDiagonal = tf.sub(tf.sum(cos, 1), tf.sum(tf.mul(cos, tf.eye(n)), 1));
    return tf.mul(offDiagonal, -lambda / n) as tf.Tensor1D;
  });
}
