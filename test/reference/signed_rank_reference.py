#!/usr/bin/python3
"""Reference values for analysis/stats/signedRank.ts from SciPy (Debian's SciPy 1.10, numpy).

Run:  /usr/bin/python3 test/reference/signed_rank_reference.py
Writes test/fixtures/stats/signed_rank_reference.json, read by test/analysis/signed-rank.test.ts.

Every case is scipy.stats.wilcoxon(x, y, zero_method="wilcox", correction=False, alternative="two-sided").
SciPy 1.10's method="auto" is exact when len(d) <= 50 and no d is zero, whatever the ties; with tied |d| it then
truncates the non-integer W+ into the untied exact distribution. Ours takes tied cases to the normal approximation
instead, so each case stores SciPy's own "auto" result and the result of the method ours picks ("expected"), asked
of SciPy explicitly. Inputs are drawn here with a fixed numpy seed and stored with the outputs.
"""
import json
import os
import warnings

import numpy as np
import scipy
from scipy import stats

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "stats", "signed_rank_reference.json")
rng = np.random.default_rng(20240621)


def fl(a):
    return [float(v) for v in np.asarray(a, dtype=float).ravel()]


def run(x, y, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "exact ... zeros" and "sample size too small" notices
        r = stats.wilcoxon(x, y, zero_method="wilcox", correction=False, alternative="two-sided", method=method)
    return {"statistic": float(r.statistic), "p": float(r.pvalue)}


cases = []


def add(name, x, y=None):
    x = np.asarray(x, dtype=float)
    y = None if y is None else np.asarray(y, dtype=float)
    d = x if y is None else x - y
    nz = d[d != 0]
    zeros = int(np.sum(d == 0))
    ties = len(np.unique(np.abs(nz))) < len(nz)
    ours = "exact" if len(d) <= 50 and zeros == 0 and not ties else "asymptotic"
    scipy_auto = "exact" if len(d) <= 50 and zeros == 0 else "asymptotic"
    cases.append({
        "name": name,
        "x": fl(x),
        "y": None if y is None else fl(y),
        "n": int(len(nz)),
        "zeros": zeros,
        "ties": bool(ties),
        "method": ours,
        "expected": run(x, y, "exact" if ours == "exact" else "approx"),
        "scipyAutoMethod": scipy_auto,
        "scipyAuto": run(x, y, "auto"),
    })


add("n1 one sample", [2.5])
add("n5 one sample", [1.5, -0.5, 2.3, 3.1, 0.7])
add("n4 at the centre (p = 1)", [1.0, -2.0, -3.0, 4.0])
add("n8 all negative", -rng.uniform(0.1, 3.0, size=8))
x = rng.normal(size=10)
add("n10 paired", x, x + rng.normal(0.8, 1.0, size=10))
add("n20 all positive (tiny p)", rng.uniform(0.1, 2.0, size=20))
add("n25 weak shift", rng.normal(0.3, 1.0, size=25))
x = rng.normal(size=30)
add("n30 paired (exact in SciPy 1.10's auto)", x, x + rng.normal(0.4, 1.0, size=30))
add("n50 one sample (last exact n)", rng.normal(0.2, 1.0, size=50))
add("n60 one sample (asymptotic)", rng.normal(0.3, 1.0, size=60))
add("n12 tied |d| without zeros", [1.0, -1.0, 2.0, 2.0, 3.0, -3.0, 3.0, 4.0, 5.0, 5.0, -6.0, 7.0])
add("n15 with zeros", [0.0, 1.2, -0.4, 0.0, 2.2, 1.7, -0.9, 3.3, 0.5, 0.0, 1.1, 2.8, -0.2, 0.6, 1.9])
x = rng.integers(0, 6, size=40).astype(float)
add("n40 paired integers (zeros and ties)", x, x - rng.integers(-2, 4, size=40))
x = rng.poisson(5.0, size=200).astype(float)
add("n200 paired Poisson counts", x + rng.poisson(0.7, size=200), x + rng.poisson(0.5, size=200))

with open(OUT, "w") as f:
    json.dump({"scipy": scipy.__version__, "numpy": np.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")
