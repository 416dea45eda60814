"""Reference fixtures for test/analysis/features-float16.test.ts: numpy's float32 -> float16 conversion
(IEEE 754 binary16, round to nearest, ties to even) and float16 -> float32 for every bit pattern.

Run: /usr/bin/python3 test/reference/features_reference.py  (writes test/fixtures/features/)

float16-encode.bin: n float32 inputs (little endian) followed by the n uint16 bit patterns numpy gives them.
float16-decode.bin: the 65536 float32 values numpy gives the float16 bit patterns 0x0000..0xffff.
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "features")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20240517)

f16 = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
finite = f16[np.isfinite(f16)].astype(np.float32)

cases = [
    # signed zeros, infinities, NaN
    np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=np.float32),
    # around the top of the range: 65504 is the largest half, 65520 the first value rounding to inf
    np.array([65504, 65505, 65519, 65519.996, 65520, 65536, 1e6, 3.4e38, -65520, -65504], dtype=np.float32),
    # around the subnormal/normal boundary and the bottom of the subnormals (2^-24 = 5.96e-8)
    np.array([2**-14, 2**-14 * (1 - 2**-11), 2**-24, 2**-25, 2**-25 * 1.0000001, 2**-26, 3 * 2**-25,
              5 * 2**-25, 2**-24 * 1.5, 2**-24 * 2.5, 1e-10, -1e-10, 1.4e-45], dtype=np.float32),
]
# exact ties between neighbouring halves (round to even both ways), and values just beside the ties
a = finite[(finite > 0) & (finite < 65504)]
b = np.nextafter(a.astype(np.float16), np.float16(np.inf)).astype(np.float32)
mid = ((a.astype(np.float64) + b.astype(np.float64)) / 2).astype(np.float32)
pick = rng.choice(len(mid), 600, replace=False)
cases += [mid[pick], -mid[pick[:100]], np.nextafter(mid[pick[:200]], np.float32(np.inf)),
          np.nextafter(mid[pick[:200]], np.float32(0))]
# random values over the whole range, post-ReLU-like magnitudes, and random float32 bit patterns
cases += [
    (rng.standard_normal(400) * np.exp(rng.uniform(-20, 12, 400))).astype(np.float32),
    np.abs(rng.standard_normal(300) * 5).astype(np.float32),
    rng.integers(0, 2**32, 300, dtype=np.uint64).astype(np.uint32).view(np.float32),
]
x = np.concatenate(cases).astype("<f4")
with np.errstate(over="ignore", invalid="ignore"):
    bits = x.astype(np.float16).view("<u2")
with open(os.path.join(OUT, "float16-encode.bin"), "wb") as f:
    f.write(x.tobytes())
    f.write(bits.tobytes())
with open(os.path.join(OUT, "float16-decode.bin"), "wb") as f:
    f.write(f16.astype("<f4").tobytes())
print(f"{len(x)} encode cases, 65536 decode values -> {OUT}")
