// Bitwise comparison of float32 arrays for the pool tests (a pool must give the single engine's values exactly).
import { expect } from "vitest";

/** Index and values of the first element where a and b differ as bits, or null (a and b of one length). */
export function firstBitDifference(a: Float32Array, b: Float32Array): [number, number, number] | null {
  expect(a.length).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return [i, a[i], b[i]];
  return null;
}
