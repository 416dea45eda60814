// Calibration targets, MonkeyLogic-style: the centre first, then a grid around it, in degrees of visual angle
// (x right, y up). 5 points: centre and the four diagonals; 9: the 3 × 3 grid; 13: the 9 plus the four half-way
// diagonals.
import { EyeCalibrationError } from "./errors.ts";

export type TargetCount = 5 | 9 | 13;

export function calibrationTargets(
  count: TargetCount,
  spacingDeg: number,
): Array<{ xDeg: number; yDeg: number }> {
  if (!Number.isFinite(spacingDeg) || spacingDeg <= 0 || spacingDeg > 40)
    throw new EyeCalibrationError(
      "EPHYS_BAD_CALIBRATION_INPUT",
      `calibration spacingDeg: expected degrees in (0, 40], found ${String(spacingDeg)}`,
    );
  const s = spacingDeg;
  const diagonals = [
    [-s, s],
    [s, s],
    [-s, -s],
    [s, -s],
  ];
  const sides = [
    [0, s],
    [-s, 0],
    [s, 0],
    [0, -s],
  ];
  const halves = diagonals.map(([x, y]) => [x / 2, y / 2]);
  const grid =
    count === 5
      ? diagonals
      : count === 9
        ? [...sides, ...diagonals]
        : count === 13
          ? [...sides, ...diagonals, ...halves]
          : null;
  if (!grid)
    throw new EyeCalibrationError(
      "EPHYS_BAD_CALIBRATION_INPUT",
      `calibration points: expected 5, 9 or 13, found ${String(count)}`,
    );
  return [{ xDeg: 0, yDeg: 0 }, ...grid.map(([xDeg, yDeg]) => ({ xDeg, yDeg }))];
}
