#!/usr/bin/python3
"""Reference values for analysis/eye/affine-fit.ts from numpy's least squares (Debian's numpy).

Run:  /usr/bin/python3 test/reference/eye_calibration_reference.py
Writes test/fixtures/eye/affine_reference.json, read by test/analysis/eye-calibration.test.ts.
Each case: calibration points (eye inputs in mV from a hidden tracker map plus noise, targets in degrees) and the
map numpy.linalg.lstsq fits on [u, v, 1] (u, v in volts), with the per-point residual distances.
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "eye", "affine_reference.json")
rng = np.random.default_rng(20260514)


def case(targets, tracker, noise_mv):
    """targets: (n, 2) degrees; tracker: 2x3 matrix mapping [x_deg, y_deg, 1] to mV."""
    t = np.asarray(targets, dtype=float)
    mv = np.column_stack([t, np.ones(len(t))]) @ np.asarray(tracker, dtype=float).T
    mv = mv + rng.normal(0, noise_mv, mv.shape)
    a = np.column_stack([mv / 1000.0, np.ones(len(t))])
    cx, *_ = np.linalg.lstsq(a, t[:, 0], rcond=None)
    cy, *_ = np.linalg.lstsq(a, t[:, 1], rcond=None)
    fitted = a @ np.column_stack([cx, cy])
    res = np.hypot(*(fitted - t).T)
    return {
        "points": [{"xMv": float(p[0]), "yMv": float(p[1]), "xDeg": float(q[0]), "yDeg": float(q[1])} for p, q in zip(mv, t)],
        "map": [float(v) for v in (*cx, *cy)],
        "residualsDeg": [float(r) for r in res],
    }


grid9 = [(0, 0), (0, 5), (-5, 0), (5, 0), (0, -5), (-5, 5), (5, 5), (-5, -5), (5, -5)]
grid5 = [(0, 0), (-8, 8), (8, 8), (-8, -8), (8, -8)]
cases = [
    case(grid9, [[100, 0, 2500], [0, 100, 2500]], 0.0),  # exact: 100 mV/deg, centred
    case(grid9, [[95, 12, 2480], [-8, 110, 2530]], 6.0),  # rotated, cross-talk, noise
    case(grid5, [[60, -5, 2400], [4, -70, 2600]], 10.0),  # inverted y, 5 points
    case([(0, 0), (3, 0), (0, 3)], [[120, 0, 2500], [0, 120, 2500]], 0.0),  # the minimum: 3 points
]
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"generator": "numpy.linalg.lstsq " + np.__version__, "cases": cases}, f, indent=1)
print(f"wrote {OUT}")
