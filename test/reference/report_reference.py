#!/usr/bin/python3
"""Reference critical correlations for analysis/report (the significance line of Fig. 3a, Lappe et al. 2024).

Run with Debian's python:  /usr/bin/python3 test/reference/report_reference.py   (writes test/fixtures/report/)

For n pairs and a two-sided level alpha, the critical Pearson r is the r at which scipy.stats.pearsonr's p equals
alpha: with t = scipy.stats.t.ppf(1 - alpha/2, n - 2), r = t / sqrt(n - 2 + t^2). Each case is also checked
against pearsonr itself (p at r_crit equals alpha), so the fixture does not rest on the formula alone.
"""
import json
import os

import numpy as np
from scipy import stats

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "report")
os.makedirs(OUT, exist_ok=True)

cases = []
for alpha in (0.05, 0.01):
    for n in (3, 4, 5, 6, 8, 10, 12, 20, 30, 50, 100, 475):
        df = n - 2
        t = stats.t.ppf(1 - alpha / 2, df)
        r = t / np.sqrt(df + t * t)
        # independent check: build x, y with exactly this sample correlation and ask pearsonr for p
        rng = np.random.default_rng(n)
        x = rng.standard_normal(n)
        x = (x - x.mean()) / np.linalg.norm(x - x.mean())
        z = rng.standard_normal(n)
        z = z - z.mean()
        z = z - (z @ x) * x
        z = z / np.linalg.norm(z)
        y = r * x + np.sqrt(1 - r * r) * z
        p = stats.pearsonr(x, y)[1]
        assert abs(p - alpha) < 1e-9, (n, alpha, p)
        cases.append({"n": n, "alpha": alpha, "r": float(r)})

with open(os.path.join(OUT, "critical_r.json"), "w") as f:
    json.dump({"source": "scipy " + __import__("scipy").__version__, "cases": cases}, f, indent=1)
print(f"wrote {len(cases)} cases")
