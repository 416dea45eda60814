// Decorrelated colour (Olah et al. 2017; lucid/lucent `to_valid_rgb`): the image is parameterized in a space whose
// three channels are decorrelated for natural images and mapped to RGB by the square root of ImageNet's colour
// covariance (lucent's `color_correlation_svd_sqrt`, columns scaled so the largest has unit norm).

/** lucent's color_correlation_svd_sqrt (rows: R, G, B; columns: decorrelated components). */
export const COLOR_CORRELATION_SVD_SQRT: readonly (readonly [number, number, number])[] = [
  [0.26, 0.09, 0.02],
  [0.27, 0.0, -0.05],
  [0.27, -0.09, 0.03],
];

/** The matrix M with rgb = M · d, M = COLOR_CORRELATION_SVD_SQRT / max column norm (row-major, 3×3). */
export function colorCorrelationNormalized(): Float32Array {
  const m = COLOR_CORRELATION_SVD_SQRT;
  let maxNorm = 0;
  for (let j = 0; j < 3; j++) maxNorm = Math.max(maxNorm, Math.hypot(m[0][j], m[1][j], m[2][j]));
  const out = new Float32Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out[i * 3 + j] = m[i][j] / maxNorm;
  return out;
}
