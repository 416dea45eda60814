// The eye calibration fit: an affine map from the eye tracker's two analog outputs (volts at the rig box's pins)
// to degrees, x = ax·u + bx·v + cx and y = ay·u + by·v + cy, by least squares over the accepted targets. Two
// gains per axis rather than one absorb a tracker mounted a little rotated and cross-talk between the channels.
import { EyeCalibrationError } from "./errors.ts";

export interface FitPoint {
  /** Eye inputs, mV. */
  xMv: number;
  yMv: number;
  /** Target, degrees. */
  xDeg: number;
  yDeg: number;
}

export interface AffineFit {
  /** [ax, bx, cx, ay, by, cy]: degrees from volts. */
  map: [number, number, number, number, number, number];
  /** Per point: distance in degrees between the target and the fitted position. */
  residualsDeg: number[];
  rmsDeg: number;
  maxDeg: number;
}

/** Solves the 3 × 3 system m · z = r by Gaussian elimination with partial pivoting; null when singular. */
function solve3(m: number[][], r: number[]): number[] | null {
  const a = m.map((row, i) => [...row, r[i]]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let i = c + 1; i < 3; i++) if (Math.abs(a[i][c]) > Math.abs(a[p][c])) p = i;
    if (Math.abs(a[p][c]) < 1e-12) return null;
    [a[c], a[p]] = [a[p], a[c]];
    for (let i = c + 1; i < 3; i++) {
      const f = a[i][c] / a[c][c];
      for (let k = c; k < 4; k++) a[i][k] -= f * a[c][k];
    }
  }
  const z = [0, 0, 0];
  for (let i = 2; i >= 0; i--) {
    let s = a[i][3];
    for (let k = i + 1; k < 3; k++) s -= a[i][k] * z[k];
    z[i] = s / a[i][i];
  }
  return z;
}

/**
 * Fits the affine map. Needs at least 3 targets whose eye positions are not on one line (the inputs must span
 * both axes); throws EPHYS_CALIBRATION_DEGENERATE otherwise, EPHYS_BAD_CALIBRATION_INPUT for a non-finite value.
 */
export function fitAffine(points: FitPoint[]): AffineFit {
  points.forEach((p, i) => {
    for (const k of ["xMv", "yMv", "xDeg", "yDeg"] as const)
      if (!Number.isFinite(p[k]))
        throw new EyeCalibrationError(
          "EPHYS_BAD_CALIBRATION_INPUT",
          `calibration point ${i}.${k}: expected a finite number, found ${String(p[k])}`,
        );
  });
  if (points.length < 3)
    throw new EyeCalibrationError(
      "EPHYS_CALIBRATION_DEGENERATE",
      `calibration: expected at least 3 accepted targets, found ${points.length}`,
    );
  // Centred coordinates keep the normal equations well conditioned (inputs are ~2.5 V ± 2 V).
  const n = points.length;
  const mu = points.reduce((a, p) => a + p.xMv / 1000, 0) / n;
  const mv = points.reduce((a, p) => a + p.yMv / 1000, 0) / n;
  const rows = points.map((p) => [p.xMv / 1000 - mu, p.yMv / 1000 - mv, 1]);
  const ata = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows.reduce((a, r) => a + r[i] * r[j], 0)));
  // The spread of the inputs must not collapse onto a line: the 2 × 2 covariance must be well away from singular.
  const det = ata[0][0] * ata[1][1] - ata[0][1] * ata[1][0];
  const scale = ata[0][0] * ata[1][1];
  if (!(scale > 0) || det / scale < 1e-6)
    throw new EyeCalibrationError(
      "EPHYS_CALIBRATION_DEGENERATE",
      "calibration: the eye positions of the accepted targets lie on one line (or one point); the map needs " +
        "targets that move the eye along both axes — is one eye-tracker channel unplugged?",
    );
  const solveAxis = (target: "xDeg" | "yDeg") => {
    const atb = [0, 1, 2].map((i) => rows.reduce((a, r, k) => a + r[i] * points[k][target], 0));
    const z = solve3(ata, atb);
    if (!z) throw new EyeCalibrationError("EPHYS_CALIBRATION_DEGENERATE", "calibration: singular fit");
    // Back from centred coordinates: z0 (u − mu) + z1 (v − mv) + z2.
    return [z[0], z[1], z[2] - z[0] * mu - z[1] * mv] as const;
  };
  const [ax, bx, cx] = solveAxis("xDeg");
  const [ay, by, cy] = solveAxis("yDeg");
  const residualsDeg = points.map((p) => {
    const u = p.xMv / 1000;
    const v = p.yMv / 1000;
    return Math.hypot(ax * u + bx * v + cx - p.xDeg, ay * u + by * v + cy - p.yDeg);
  });
  return {
    map: [ax, bx, cx, ay, by, cy],
    residualsDeg,
    rmsDeg: Math.sqrt(residualsDeg.reduce((a, r) => a + r * r, 0) / n),
    maxDeg: Math.max(...residualsDeg),
  };
}

/** Applies a map to eye inputs in mV. */
export function applyAffine(
  map: readonly [number, number, number, number, number, number],
  xMv: number,
  yMv: number,
): { xDeg: number; yDeg: number } {
  const u = xMv / 1000;
  const v = yMv / 1000;
  return { xDeg: map[0] * u + map[1] * v + map[2], yDeg: map[3] * u + map[4] * v + map[5] };
}
