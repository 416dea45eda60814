// The eye during one presentation, from the rig box's EYE samples: how many, the mean position, and the spread
// (root mean square distance from the mean), in degrees.
export interface EyeSummary {
  n: number;
  meanXDeg: number;
  meanYDeg: number;
  sdDeg: number;
}

export function summarizeEye(samples: ReadonlyArray<{ xDeg: number; yDeg: number }>): EyeSummary | undefined {
  const n = samples.length;
  if (n === 0) return undefined;
  const meanXDeg = samples.reduce((a, s) => a + s.xDeg, 0) / n;
  const meanYDeg = samples.reduce((a, s) => a + s.yDeg, 0) / n;
  const ss = samples.reduce((a, s) => a + (s.xDeg - meanXDeg) ** 2 + (s.yDeg - meanYDeg) ** 2, 0);
  return { n, meanXDeg, meanYDeg, sdDeg: Math.sqrt(ss / n) };
}
