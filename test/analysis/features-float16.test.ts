// float16 encode/decode against numpy (test/reference/features_reference.py → test/fixtures/features/).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  decodeFloat16,
  encodeFloat16,
  fromFloat16Bits,
  toFloat16Bits,
} from "../../analysis/features/float16.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "features");

function encodeCases(): { values: Float32Array; bits: Uint16Array } {
  const buf = readFileSync(join(FIXTURES, "float16-encode.bin"));
  const n = buf.length / 6;
  const values = new Float32Array(n);
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    values[i] = buf.readFloatLE(i * 4);
    bits[i] = buf.readUInt16LE(n * 4 + i * 2);
  }
  return { values, bits };
}

describe("float16", () => {
  it("encodes float32 exactly as numpy's astype(float16) (ties to even, subnormals, overflow, NaN)", () => {
    const { values, bits } = encodeCases();
    expect(values.length).toBeGreaterThan(2000);
    const ours = encodeFloat16(values);
    const wrong: string[] = [];
    for (let i = 0; i < values.length; i++) {
      if (ours[i] !== bits[i])
        wrong.push(`${values[i]}: ours 0x${ours[i].toString(16)}, numpy 0x${bits[i].toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  it("the fixture covers the cases that matter", () => {
    const { values, bits } = encodeCases();
    const has = (v: number, h: number) => values.some((x, i) => Object.is(x, v) && bits[i] === h);
    expect(has(65504, 0x7bff)).toBe(true);
    expect(has(65520, 0x7c00)).toBe(true); // the first value rounding to inf
    expect(has(2 ** -25, 0x0000)).toBe(true); // a tie at the bottom rounds to the even zero
    expect(has(3 * 2 ** -25, 0x0002)).toBe(true); // a tie rounds up to the even 2
    expect(has(-0, 0x8000)).toBe(true);
    expect(
      values.some((x, i) => Number.isNaN(x) && (bits[i] & 0x7c00) === 0x7c00 && (bits[i] & 0x3ff) !== 0),
    ).toBe(true);
  });

  it("decodes every half bit pattern to numpy's float32 value", () => {
    const buf = readFileSync(join(FIXTURES, "float16-decode.bin"));
    const expected = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) expected[i] = buf.readFloatLE(i * 4);
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const ours = decodeFloat16(all);
    let bad = 0;
    for (let i = 0; i < 65536; i++) {
      const same = Number.isNaN(expected[i]) ? Number.isNaN(ours[i]) : Object.is(ours[i], expected[i]);
      if (!same) bad++;
    }
    expect(bad).toBe(0);
  });

  it("round-trips every finite half and single values through the scalar helpers", () => {
    const off: number[] = [];
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) !== 0x7c00 && toFloat16Bits(fromFloat16Bits(h)) !== h) off.push(h);
    }
    expect(off).toEqual([]);
    expect(fromFloat16Bits(toFloat16Bits(1 / 3))).toBeCloseTo(0.33325, 5); // 0x3555
  });

  it("checks the lengths of caller-given outputs", () => {
    expect(() => encodeFloat16(new Float32Array(3), new Uint16Array(2))).toThrow(RangeError);
    expect(() => decodeFloat16(new Uint16Array(3), new Float32Array(4))).toThrow(RangeError);
  });
});
