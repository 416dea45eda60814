// The Fourier image parameterization's pieces (Olah et al. 2017; lucid/lucent `fft_image`): frequencies of a real
// 2-D spectrum, the 1/f^decay scaling that whitens natural-image spectra, and the inverse real 2-D DFT (numpy's
// irfft2 with norm="ortho") written as matrix products, so tfjs differentiates it on every backend.
//
//   img[y, x] = 1/√(HW) · Σ_ky Σ_kx c_kx · Re(F[ky, kx] · e^{2πi(ky·y/H + kx·x/W)})
//   c_kx = 1 for kx = 0 and (W even) kx = W/2, else 2                      (Hermitian half-spectrum, numpy irfft)
import * as tf from "@tensorflow/tfjs-core";
import { check } from "./errors.ts";

/** numpy.fft.fftfreq(n)[k]: k/n for k < ⌈n/2⌉, (k − n)/n after. */
export function fftfreq(n: number, k: number): number {
  return (k < Math.ceil(n / 2) ? k : k - n) / n;
}

/** Columns of the half spectrum of a real signal of width w: ⌊w/2⌋ + 1. */
export const halfWidth = (w: number) => Math.floor(w / 2) + 1;

/** |f| = √(fx² + fy²) over the [h, ⌊w/2⌋+1] half spectrum (lucent rfft2d_freqs, row-major). */
export function rfft2dFreqs(h: number, w: number): Float32Array {
  const wf = halfWidth(w);
  const out = new Float32Array(h * wf);
  for (let y = 0; y < h; y++) {
    const fy = fftfreq(h, y);
    for (let x = 0; x < wf; x++) out[y * wf + x] = Math.hypot(x / w, fy);
  }
  return out;
}

/** 1 / max(|f|, 1/max(h, w))^decay over the half spectrum: the spectrum scaling of the Fourier parameterization. */
export function spectrumScale(h: number, w: number, decayPower = 1): Float32Array {
  const floor = 1 / Math.max(h, w);
  return rfft2dFreqs(h, w).map((f) => 1 / Math.max(f, floor) ** decayPower);
}

/** The four DFT matrices of an ortho inverse real 2-D DFT of an h × w image (row-major Float32Arrays). */
export interface Irfft2Matrices {
  h: number;
  w: number;
  wf: number;
  /** [h, h]: cos / sin(2π·y·ky/h), rows y, columns ky. */
  cy: Float32Array;
  sy: Float32Array;
  /** [wf, w]: c_kx·cos / c_kx·sin(2π·kx·x/w)/√(hw), rows kx, columns x (the normalization folded in). */
  cx: Float32Array;
  sx: Float32Array;
}

export function irfft2Matrices(h: number, w: number): Irfft2Matrices {
  check(Number.isInteger(h) && h >= 1, "height", h, "a whole number of pixels ≥ 1");
  check(Number.isInteger(w) && w >= 1, "width", w, "a whole number of pixels ≥ 1");
  const wf = halfWidth(w);
  const cy = new Float32Array(h * h);
  const sy = new Float32Array(h * h);
  for (let y = 0; y < h; y++) {
    for (let k = 0; k < h; k++) {
      const a = (2 * Math.PI * ((y * k) % h)) / h;
      cy[y * h + k] = Math.cos(a);
      sy[y * h + k] = Math.sin(a);
    }
  }
  const norm = 1 / Math.sqrt(h * w);
  const cx = new Float32Array(wf * w);
  const sx = new Float32Array(wf * w);
  for (let k = 0; k < wf; k++) {
    const c = k === 0 || (w % 2 === 0 && k === w / 2) ? 1 : 2;
    for (let x = 0; x < w; x++) {
      const a = (2 * Math.PI * ((k * x) % w)) / w;
      cx[k * w + x] = c * norm * Math.cos(a);
      sx[k * w + x] = c * norm * Math.sin(a);
    }
  }
  return { h, w, wf, cy, sy, cx, sx };
}

/** The DFT matrices as tensors (owned by the caller: dispose them); cy and sy are symmetric. */
export interface Irfft2Tensors {
  h: number;
  w: number;
  wf: number;
  cy: tf.Tensor2D;
  sy: tf.Tensor2D;
  cx: tf.Tensor2D;
  sx: tf.Tensor2D;
  /** cxᵀ and sxᵀ [w, wf], for the backward pass. */
  cxT: tf.Tensor2D;
  sxT: tf.Tensor2D;
}

/**
 * x · m for a constant m, with the gradient dy · mᵀ from an explicit mᵀ: tfjs wasm's BatchMatMul is 10–20× slower
 * with a transpose flag than without (measured at these sizes), and tf.matMul's own gradient uses the flags.
 */
export function constMatMul(x: tf.Tensor2D, m: tf.Tensor2D, mT: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor2D;
    return {
      value: tf.matMul(input, m),
      gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, mT),
    };
  });
  return op(x) as tf.Tensor2D;
}

/** m · x for a symmetric constant m (gradient m · dy). */
function symmetricLeftMatMul(m: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor2D;
    return {
      value: tf.matMul(m, input),
      gradFunc: (dy: tf.Tensor) => tf.matMul(m, dy as tf.Tensor2D),
    };
  });
  return op(x) as tf.Tensor2D;
}

export function irfft2Tensors(h: number, w: number): Irfft2Tensors {
  const m = irfft2Matrices(h, w);
  return tf.tidy(() => {
    const cx = tf.tensor2d(m.cx, [m.wf, w]);
    const sx = tf.tensor2d(m.sx, [m.wf, w]);
    return {
      h,
      w,
      wf: m.wf,
      cy: tf.tensor2d(m.cy, [h, h]),
      sy: tf.tensor2d(m.sy, [h, h]),
      cx,
      sx,
      cxT: tf.transpose(cx) as tf.Tensor2D,
      sxT: tf.transpose(sx) as tf.Tensor2D,
    };
  });
}

/** Dispose the tensors of irfft2Tensors. */
export function disposeIrfft2(m: Irfft2Tensors): void {
  tf.dispose([m.cy, m.sy, m.cx, m.sx, m.cxT, m.sxT]);
}

/**
 * numpy.fft.irfft2(re + i·im, s=(h, w), norm="ortho") for a batch of half spectra re, im [b, h, ⌊w/2⌋+1] → [b, h, w],
 * as four matrix products (differentiable; the imaginary parts of the self-conjugate bins are ignored, as numpy).
 */
export function irfft2(re: tf.Tensor3D, im: tf.Tensor3D, m: Irfft2Tensors): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, h, wf] = re.shape;
    check(h === m.h && wf === m.wf, "spectrum", re.shape, `[b, ${m.h}, ${m.wf}]`);
    // Along y (a full complex inverse DFT): B = Σ_ky F[ky] e^{+2πi·ky·y/h}.
    const flat = (t: tf.Tensor3D) => tf.reshape(tf.transpose(t, [1, 0, 2]), [h, b * wf]) as tf.Tensor2D;
    const fr = flat(re);
    const fi = flat(im);
    const br = tf.sub(symmetricLeftMatMul(m.cy, fr), symmetricLeftMatMul(m.sy, fi));
    const bi = tf.add(symmetricLeftMatMul(m.sy, fr), symmetricLeftMatMul(m.cy, fi));
    // Along x (real output): Σ_kx c_kx (B_re cos − B_im sin).
    const rows = (t: tf.Tensor) =>
      tf.reshape(tf.transpose(tf.reshape(t, [h, b, wf]), [1, 0, 2]), [b * h, wf]) as tf.Tensor2D;
    const img = tf.sub(constMatMul(rows(br), m.cx, m.cxT), constMatMul(rows(bi), m.sx, m.sxT));
    return tf.reshape(img, [b, h, m.w]) as tf.Tensor3D;
  });
}
