// IEEE 754 binary16 ("half") encode/decode for the feature cache: round to nearest, ties to even (as numpy's
// astype(np.float16) and every FPU do). Node 20 has no Float16Array, so the bits are handled here.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to a float32 bit pattern (ties to even; overflow → ±inf; NaN keeps its top payload bits). */
export function float32BitsToFloat16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00; // ±inf
    const payload = mant >>> 13;
    return sign | 0x7c00 | (payload === 0 ? 1 : payload); // NaN stays NaN
  }
  const e = exp - 127 + 15; // re-biased exponent
  if (e >= 31) return sign | 0x7c00; // ≥ 2^16: beyond the largest half even before rounding
  if (e <= 0) {
    // Subnormal half (or zero): value = m · 2^-24 with m = M · 2^(e − 14), M the 24-bit significand.
    if (e < -10) return sign; // below 2^-25: rounds to ±0 (2^-25 itself is a tie, to the even 0)
    const significand = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let m = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (m & 1) === 1)) m++; // may carry into the smallest normal: correct
    return sign | m;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is right (up to inf)
  return h;
}

/** The binary16 bit pattern nearest to a number (rounded to float32 first, as storing into a Float32Array does). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  return float32BitsToFloat16(u32[0]);
}

/** Every binary16 bit pattern's value as float32 (exact: each half is a float32). */
const DECODE = (() => {
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) {
      bits[h] = sign | 0x7f800000 | (mant << 13); // inf, or NaN with its payload
    } else if (exp === 0) {
      table[h] = (sign ? -1 : 1) * mant * 2 ** -24; // zero or subnormal, exact in float32
    } else {
      bits[h] = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
  }
  return table;
})();

/** The value of a binary16 bit pattern. */
export function fromFloat16Bits(h: number): number {
  return DECODE[h & 0xffff];
}

/** float32 array → binary16 bit patterns (native byte order of the Uint16Array). */
export function encodeFloat16(
  values: Float32Array,
  out: Uint16Array = new Uint16Array(values.length),
): Uint16Array {
  if (out.length !== values.length) {
    throw new RangeError(`encodeFloat16: out has ${out.length} slots; expected ${values.length}`);
  }
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) out[i] = float32BitsToFloat16(bits[i]);
  return out;
}

/** binary16 bit patterns → float32 (exact). */
export function decodeFloat16(
  halves: Uint16Array,
  out: Float32Array = new Float32Array(halves.length),
): Float32Array {
  if (out.length !== halves.length) {
    throw new RangeError(`decodeFloat16: out has ${out.length} slots; expected ${halves.length}`);
  }
  for (let i = 0; i < halves.length; i++) out[i] = DECODE[halves[i]];
  return out;
}

/** Largest finite binary16 value. */
export const FLOAT16_MAX = 65504;
