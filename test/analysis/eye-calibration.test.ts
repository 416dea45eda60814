// The eye calibration fit (analysis/eye/affine-fit.ts) against numpy.linalg.lstsq (fixture from
// test/reference/eye_calibration_reference.py), the targets, and the refusals.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  applyAffine,
  calibrationTargets,
  type FitPoint,
  fitAffine,
  summarizeEye,
} from "../../analysis/eye/index.ts";

const reference = JSON.parse(
  readFileSync(new URL("../fixtures/eye/affine_reference.json", import.meta.url), "utf8"),
) as { cases: Array<{ points: FitPoint[]; map: number[]; residualsDeg: number[] }> };

describe("fitAffine", () => {
  it("has the reference cases", () => expect(reference.cases.length).toBe(4));
  reference.cases.forEach((c, i) => {
    it(`matches numpy's least squares, case ${i} (${c.points.length} points)`, () => {
      const fit = fitAffine(c.points);
      for (const [k, v] of fit.map.entries()) expect(v).toBeCloseTo(c.map[k], 8);
      for (const [k, r] of fit.residualsDeg.entries()) expect(r).toBeCloseTo(c.residualsDeg[k], 8);
      expect(fit.maxDeg).toBeCloseTo(Math.max(...c.residualsDeg), 8);
      // The fitted map sends each point's inputs to within its residual of the target.
      c.points.forEach((p, k) => {
        const d = applyAffine(fit.map, p.xMv, p.yMv);
        expect(Math.hypot(d.xDeg - p.xDeg, d.yDeg - p.yDeg)).toBeCloseTo(fit.residualsDeg[k], 9);
      });
    });
  });

  it("refuses targets whose eye positions lie on one line (one tracker channel dead)", () => {
    const points = [-5, 0, 5].flatMap((x) =>
      [-5, 0, 5].map((y) => ({ xMv: 2500 + 100 * x, yMv: 2500, xDeg: x, yDeg: y })),
    );
    expect(() => fitAffine(points)).toThrow(
      expect.objectContaining({ code: "EPHYS_CALIBRATION_DEGENERATE" }),
    );
  });

  it("refuses fewer than 3 points and non-finite values, naming them", () => {
    expect(() => fitAffine([{ xMv: 1, yMv: 2, xDeg: 0, yDeg: 0 }])).toThrow(
      /at least 3 accepted targets, found 1/,
    );
    expect(() =>
      fitAffine([
        { xMv: 1, yMv: 2, xDeg: 0, yDeg: 0 },
        { xMv: Number.NaN, yMv: 2, xDeg: 0, yDeg: 0 },
        { xMv: 1, yMv: 3, xDeg: 0, yDeg: 1 },
      ]),
    ).toThrow(/point 1.xMv: expected a finite number, found NaN/);
  });
});

describe("calibration targets and eye summaries", () => {
  it("starts at the centre and spans the grid", () => {
    expect(calibrationTargets(5, 8)).toEqual([
      { xDeg: 0, yDeg: 0 },
      { xDeg: -8, yDeg: 8 },
      { xDeg: 8, yDeg: 8 },
      { xDeg: -8, yDeg: -8 },
      { xDeg: 8, yDeg: -8 },
    ]);
    const nine = calibrationTargets(9, 5);
    expect(nine).toHaveLength(9);
    expect(new Set(nine.map((t) => `${t.xDeg},${t.yDeg}`)).size).toBe(9);
    expect(calibrationTargets(13, 4)).toContainEqual({ xDeg: 2, yDeg: -2 });
    expect(() => calibrationTargets(9, 0)).toThrow(/spacingDeg: expected degrees in \(0, 40\], found 0/);
  });

  it("summarizes the eye: mean and RMS distance from it", () => {
    expect(summarizeEye([])).toBeUndefined();
    const s = summarizeEye([
      { xDeg: 1, yDeg: 0 },
      { xDeg: -1, yDeg: 0 },
      { xDeg: 0, yDeg: 1 },
      { xDeg: 0, yDeg: -1 },
    ])!;
    expect(s).toEqual({ n: 4, meanXDeg: 0, meanYDeg: 0, sdDeg: 1 });
  });
});
