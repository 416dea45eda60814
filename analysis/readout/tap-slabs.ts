// The only heavy arithmetic of the readout fit, on tfjs: per feature-map pixel p, the images' features F_p
// ([N, C], uploaded once, lazily) multiplied by the weights of the channels whose bilinear taps fall on p.
//   forward:  U_p = F_p · Wᵀ_p    ([N, C]·[C, k_p] → [N, k_p])
//   backward: G_p = R_p · F_p     ([k_p, N]·[N, C] → [k_p, C])
// Both products keep F_p untransposed: on the wasm backend a transposed operand costs 5–20× (measured).
// A SlabEngine runs a batch of such products; TapSlabs runs them here, RowSplitSlabs (slab-workers.ts) splits
// the image rows between this thread and a worker thread.

import * as tf from "@tensorflow/tfjs-core";
import { type FeatureMaps, pixelSlab } from "./feature-maps.ts";

export interface SlabSource {
  features: FeatureMaps;
  rows: ArrayLike<number>;
}

/** One product at pixel p with k channels: data = Wᵀ_p [C, k] (forward) or R_p [k, N] (backward), row-major. */
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
  /** U_p = F_p · Wᵀ_p for each item: [N, k] row-major. */
  forwardAll(items: SlabProduct[]): Promise<Float32Array[]>;
  /** G_p = R_p · F_p for each item: [k, C] row-major. */
  backwardAll(items: SlabProduct[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export class TapSlabs implements SlabEngine {
  readonly n: number;
  readonly c: number;
  private readonly slabs: (tf.Tensor2D | undefined)[];

  /** Rows are concatenated over the sources in order (e.g. training images, then silhouette images). */
  constructor(private readonly sources: SlabSource[]) {
    this.n = sources.reduce((s, src) => s + src.rows.length, 0);
    this.c = sources[0].features.c;
    const first = sources[0].features;
    this.slabs = new Array(first.h * first.w).fill(undefined);
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

  /** U_p = F_p · Wᵀ_p with wt = Wᵀ_p as [C, k] row-major; returns [N, k] row-major. */
  forward(p: number, wt: Float32Array, k: number): Float32Array {
    const w = tf.tensor2d(wt, [this.c, k]);
    const u = tf.matMul(this.slab(p), w);
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
    }
  }

  async dispose(): Promise<void> {
    this.disposeSync();
  }
}
