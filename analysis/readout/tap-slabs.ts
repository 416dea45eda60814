// The only heavy arithmetic of the readout fit, on tfjs: per feature-map pixel p, the images' features F_p
// ([N, C], uploaded once, lazily, with its transpose) multiplied by the weights of the channels whose bilinear
// taps fall on p.
//   forward:  U_p = W_p · F_pᵀ    ([k_p, C]·[C, N] → [k_p, N])
//   backward: G_p = R_p · F_p     ([k_p, N]·[N, C] → [k_p, C])
// The few channel rows go first and the slab second in both: on the wasm backend (XNNPACK) that orientation
// measured 1.6× faster than F_p·Wᵀ_p, and a transposed-operand flag costs 5–20×.
// A SlabEngine runs a batch of such products; TapSlabs runs them here, RowSplitSlabs (slab-workers.ts) splits
// the image rows between this thread and a worker thread.

import * as tf from "@tensorflow/tfjs-core";
import { type FeatureMaps, pixelSlab } from "./feature-maps.ts";

export interface SlabSource {
  features: FeatureMaps;
  rows: ArrayLike<number>;
}

/** One product at pixel p with k channels: data = W_p [k, C] (forward) or R_p [k, N] (backward), row-major. */
export interface SlabProduct {
  p: number;
  k: number;
  data: Float32Array;
}

export interface SlabEngine {
  /** Image rows. */
  readonly n: number;
  /** Features per pixel. */
  readonly c: number;
  /** U_p = W_p · F_pᵀ for each item: [k, N] row-major. */
  forwardAll(items: SlabProduct[]): Promise<Float32Array[]>;
  /** G_p = R_p · F_p for each item: [k, C] row-major. */
  backwardAll(items: SlabProduct[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export class TapSlabs implements SlabEngine {
  readonly n: number;
  readonly c: number;
  private readonly slabs: (tf.Tensor2D | undefined)[];
  private readonly transposed: (tf.Tensor2D | undefined)[];

  /** Rows are concatenated over the sources in order (e.g. training images, then silhouette images). */
  constructor(private readonly sources: SlabSource[]) {
    this.n = sources.reduce((s, src) => s + src.rows.length, 0);
    this.c = sources[0].features.c;
    const first = sources[0].features;
    this.slabs = new Array(first.h * first.w).fill(undefined);
    this.transposed = new Array(first.h * first.w).fill(undefined);
  }

  /** F_p as a JS array [N·C] (row-major), built from the sources. */
  slabData(p: number): Float32Array {
    if (this.sources.length === 1) return pixelSlab(this.sources[0].features, p, this.sources[0].rows);
    const out = new Float32Array(this.n * this.c);
    let offset = 0;
    for (const src of this.sources) {
      out.set(pixelSlab(src.features, p, src.rows), offset);
      offset += src.rows.length * this.c;
    }
    return out;
  }

  private slab(p: number): tf.Tensor2D {
    let s = this.slabs[p];
    if (s === undefined) {
      s = tf.tensor2d(this.slabData(p), [this.n, this.c]);
      this.slabs[p] = s;
    }
    return s;
  }

  private slabT(p: number): tf.Tensor2D {
    let s = this.transposed[p];
    if (s === undefined) {
      s = tf.transpose(this.slab(p));
      this.transposed[p] = s;
    }
    return s;
  }

  /** U_p = W_p · F_pᵀ with W_p as [k, C] row-major; returns [k, N] row-major. */
  forward(p: number, wp: Float32Array, k: number): Float32Array {
    const w = tf.tensor2d(wp, [k, this.c]);
    const u = tf.matMul(w, this.slabT(p));
    const out = u.dataSync() as Float32Array;
    w.dispose();
    u.dispose();
    return out;
  }

  /** G_p = R_p · F_p with r = R_p as [k, N] row-major; returns [k, C] row-major. */
  backward(p: number, r: Float32Array, k: number): Float32Array {
    const rt = tf.tensor2d(r, [k, this.n]);
    const g = tf.matMul(rt, this.slab(p));
    const out = g.dataSync() as Float32Array;
    rt.dispose();
    g.dispose();
    return out;
  }

  forwardAllSync(items: SlabProduct[]): Float32Array[] {
    return items.map((it) => this.forward(it.p, it.data, it.k));
  }

  backwardAllSync(items: SlabProduct[]): Float32Array[] {
    return items.map((it) => this.backward(it.p, it.data, it.k));
  }

  async forwardAll(items: SlabProduct[]): Promise<Float32Array[]> {
    return this.forwardAllSync(items);
  }

  async backwardAll(items: SlabProduct[]): Promise<Float32Array[]> {
    return this.backwardAllSync(items);
  }

  disposeSync(): void {
    for (let p = 0; p < this.slabs.length; p++) {
      this.slabs[p]?.dispose();
      this.slabs[p] = undefined;
      this.transposed[p]?.dispose();
      this.transposed[p] = undefined;
    }
  }

  async dispose(): Promise<void> {
    this.disposeSync();
  }
}
