#!/usr/bin/python3
"""Reference values for controller/monitor/reliability-rule.ts from SciPy (Debian's SciPy 1.10, numpy).

Run:  /usr/bin/python3 test/reference/monitor_reliability_reference.py
Writes test/fixtures/monitor/reliability_reference.json, read by test/controller/monitor-reliability-rule.test.ts.
F comes from scipy.stats.f_oneway (one-way ANOVA over the images with >= 2 trials), the bound and p from
scipy.stats.f.ppf / f.cdf; k0, ICC(1) and the Spearman-Brown projection are the textbook formulas
(Shrout & Fleiss 1979; McGraw & Wong 1996, case 1), written out here independently of the TypeScript.
"""
import json
import os

import numpy as np
from scipy import stats

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "monitor", "reliability_reference.json")
rng = np.random.default_rng(20261123)


def projected(f, k0, repeats):
    if np.isinf(f):
        return 1.0
    d = f - 1 + k0 / repeats
    if d <= 0:
        return -1.0
    return float(np.clip((f - 1) / d, -1, 1))


def reference(rows, repeats, threshold, alpha):
    groups = [np.asarray(r, dtype=float) for r in rows if len(r) >= 2]
    n = len(groups)
    big_n = sum(len(g) for g in groups)
    f = float(stats.f_oneway(*groups).statistic)
    k0 = (big_n - sum(len(g) ** 2 for g in groups) / big_n) / (n - 1)
    dfb, dfw = n - 1, big_n - n
    icc1 = (f - 1) / (f + k0 - 1)
    fu = f / stats.f.ppf(alpha, dfb, dfw)
    rho1 = threshold / (repeats - (repeats - 1) * threshold)
    p = float(stats.f.cdf(f * (1 - rho1) / (1 + (k0 - 1) * rho1), dfb, dfw))
    return {
        "stimuli": n,
        "trials": big_n,
        "k0": k0,
        "f": f,
        "icc1": icc1,
        "projected": projected(f, k0, repeats),
        "upper": projected(fu, k0, repeats),
        "p": p,
    }


cases = []


def add(name, rows, repeats, threshold=0.5, alpha=0.05):
    rows = [[float(v) for v in r] for r in rows]
    cases.append(
        {
            "name": name,
            "rows": rows,
            "repeats": repeats,
            "threshold": threshold,
            "alpha": alpha,
            "expected": reference(rows, repeats, threshold, alpha),
        }
    )


def channel(n_images, trials, signal_sd, noise_sd):
    means = rng.normal(20, signal_sd, n_images)
    return [list(means[i] + rng.normal(0, noise_sd, t)) for i, t in enumerate(trials)]


# Balanced: a reliable channel, one near the threshold, one with no signal at all.
add("balanced reliable, 40 images x 3 of 6", channel(40, [3] * 40, 15, 18), 6)
add("balanced near threshold, 40 x 6 of 6", channel(40, [6] * 40, 5, 18), 6)
add("no signal, 40 x 2 of 3", channel(40, [2] * 40, 0, 18), 3)
# Unbalanced, mid-block: some images seen 3 times, some 2, some once (left out), at alpha 0.01.
trials = list(rng.integers(1, 4, 30))
add("unbalanced with singletons, alpha 0.01", channel(30, trials, 8, 18), 6, alpha=0.01)
# Few images, no signal, another threshold and repeat count.
add("12 images, no signal, threshold 0.3", channel(12, [4] * 12, 0, 30), 5, threshold=0.3)
# Integer spike-count-like net rates with ties.
counts = [list(rng.poisson(lam, 5) * 5.0 - 10.0) for lam in rng.uniform(2, 12, 25)]
add("Poisson counts, 25 x 5 of 5", counts, 5)

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as fh:
    json.dump({"scipy": __import__("scipy").__version__, "cases": cases}, fh, indent=1)
print(f"wrote {len(cases)} cases to {OUT}")
