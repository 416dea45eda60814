#!/usr/bin/python3
"""Reference values for analysis/stats from SciPy (Debian's SciPy 1.10, numpy).

Run:  /usr/bin/python3 test/reference/stats_reference.py
Writes test/fixtures/stats/stats_reference.json, read by test/analysis/stats.test.ts and random.test.ts.
Inputs are drawn here with a fixed numpy seed and stored with the expected outputs, so the TypeScript side only
reads and compares. The split-half reference re-implements mulberry32 + Fisher-Yates (the only way to reproduce
the seeded splits) but takes every correlation from scipy.stats.pearsonr.
"""
import json
import os

import numpy as np
import scipy
from scipy import stats

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "stats", "stats_reference.json")
rng = np.random.default_rng(20240515)


def fl(a):
    return [float(v) for v in np.asarray(a, dtype=float).ravel()]


# ---------------------------------------------------------------- correlations
correlations = []


def add_corr(name, x, y):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    pr = stats.pearsonr(x, y)
    ci = pr.confidence_interval(0.95)
    sr = stats.spearmanr(x, y)
    n = len(x)
    # Fisher-z interval for Spearman's r with the same formula as SciPy's Pearson CI (se = 1/sqrt(n-3)).
    if n > 3:
        z = np.arctanh(sr.statistic) if abs(sr.statistic) < 1 else np.sign(sr.statistic) * np.inf
        h = stats.norm.ppf(0.975) / np.sqrt(n - 3)
        sci = [float(np.tanh(z - h)), float(np.tanh(z + h))]
    else:
        sci = [-1.0, 1.0]
    correlations.append({
        "name": name, "x": fl(x), "y": fl(y),
        "pearson": {"r": float(pr.statistic), "p": float(pr.pvalue), "ci95": [float(ci.low), float(ci.high)]},
        "spearman": {"r": float(sr.statistic), "p": float(sr.pvalue), "ci95": sci},
    })


add_corr("n3", [1.0, 2.5, 2.0], [0.3, 0.9, 1.7])
add_corr("n4 negative", [4.0, 3.0, 1.0, 2.0], [0.1, 0.5, 0.7, 0.2])
for n in (5, 10, 50, 200):
    x = rng.normal(size=n)
    add_corr(f"normal n{n} weak", x, 0.3 * x + rng.normal(size=n))
x = rng.normal(size=50)
add_corr("normal n50 strong (tiny p)", x, x + 0.05 * rng.normal(size=50))
x = rng.integers(0, 5, size=30).astype(float)
add_corr("integer ties n30", x, x + rng.integers(0, 3, size=30))
x = rng.poisson(3.0, size=40).astype(float)
add_corr("poisson ties n40 negative", x, -0.5 * x + rng.poisson(2.0, size=40))
add_corr("perfect monotone", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 4.0, 9.0, 16.0, 25.0, 36.0])

fisher = []
for r, n, level in [(0.3, 10, 0.95), (-0.8, 25, 0.99), (0.0, 100, 0.5), (0.95, 7, 0.999), (0.5, 4, 0.9), (0.5, 3, 0.95)]:
    from scipy.stats._stats_py import _pearsonr_fisher_ci  # SciPy's own Fisher-z interval

    lo, hi = _pearsonr_fisher_ci(r, n, level, "two-sided")
    fisher.append({"r": r, "n": n, "level": level, "ci": [float(lo), float(hi)]})

quantiles = [{"p": p, "z": float(stats.norm.ppf(p))}
             for p in (1e-300, 1e-20, 1e-10, 1e-4, 0.01, 0.02425, 0.05, 0.3, 0.5, 0.7, 0.975, 0.995, 0.99999)]

# ---------------------------------------------------------------- Mann-Whitney U
mwu = []


def has_ties(x, y):
    xy = np.concatenate([x, y])
    return len(np.unique(xy)) < len(xy)


def add_mwu(name, x, y):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    methods = ["auto", "asymptotic"] + ([] if has_ties(x, y) else ["exact"])
    results = []
    for method in methods:
        for alternative in ("two-sided", "less", "greater"):
            for continuity in (True, False):
                res = stats.mannwhitneyu(x, y, use_continuity=continuity, alternative=alternative, method=method)
                results.append({"method": method, "alternative": alternative, "continuity": continuity,
                                # NaN (all values tied, no continuity correction) is stored as null
                                "u": float(res.statistic), "p": None if np.isnan(res.pvalue) else float(res.pvalue)})
    auto_exact = (not (len(x) > 8 and len(y) > 8)) and not has_ties(x, y)
    mwu.append({"name": name, "x": fl(x), "y": fl(y), "ties": bool(has_ties(x, y)),
                "autoMethod": "exact" if auto_exact else "asymptotic", "results": results})


add_mwu("1 vs 1", [1.0], [2.0])
add_mwu("small separated 4v5", [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0, 9.0])
add_mwu("small overlapping 6v7", rng.normal(size=6), rng.normal(0.5, 1, size=7))
add_mwu("U at the centre 3v3", [1.0, 4.0, 5.0], [2.0, 3.0, 6.0])
add_mwu("small with ties 5v6", [1.0, 2.0, 2.0, 3.0, 5.0], [2.0, 3.0, 4.0, 5.0, 5.0, 7.0])
add_mwu("one small one large 8v40 exact by auto", rng.normal(size=8), rng.normal(0.7, 1, size=40))
add_mwu("9v9 asymptotic by auto", rng.normal(size=9), rng.normal(0.3, 1, size=9))
add_mwu("12v15 no ties", rng.normal(size=12), rng.normal(1.0, 1, size=15))
add_mwu("large 60v80", rng.normal(size=60), rng.normal(0.2, 1, size=80))
add_mwu("large ties 50v45 poisson", rng.poisson(4.0, size=50), rng.poisson(5.0, size=45))
add_mwu("very different 30v30 (tiny p)", rng.normal(size=30), rng.normal(4.0, 1, size=30))
add_mwu("all tied", [2.0, 2.0, 2.0], [2.0, 2.0])

# ---------------------------------------------------------------- Kruskal-Wallis
kruskal = []


def add_kw(name, groups):
    groups = [np.asarray(g, dtype=float) for g in groups]
    res = stats.kruskal(*groups)
    kruskal.append({"name": name, "groups": [fl(g) for g in groups], "h": float(res.statistic), "p": float(res.pvalue)})


add_kw("two groups no ties", [rng.normal(size=7), rng.normal(1, 1, size=9)])
add_kw("three groups ties unequal", [[1, 2, 2, 3], [2, 3, 3, 4, 5, 5], [5, 6]])
add_kw("five groups poisson ties", [rng.poisson(3 + k, size=5 + 3 * k) for k in range(5)])
add_kw("singleton groups", [[1.0], [3.0], [2.0], [2.0, 4.0]])
add_kw("strong effect (small p)", [rng.normal(4 * k, 1, size=25) for k in range(4)])
add_kw("equal rank means", [[1.0, 4.0], [2.0, 3.0]])

# ---------------------------------------------------------------- split-half reliability
M32 = 0xFFFFFFFF


def imul(a, b):
    return (a * b) & M32


def mulberry32(seed):
    state = [seed & M32]

    def nxt():
        a = (state[0] + 0x6D2B79F5) & M32
        state[0] = a
        t = imul(a ^ (a >> 15), 1 | a)
        t = ((t + imul(t ^ (t >> 7), 61 | t)) & M32) ^ t
        return ((t ^ (t >> 14)) & M32) / 4294967296.0

    return nxt


def shuffle(items, rand):
    for i in range(len(items) - 1, 0, -1):
        j = int(np.floor(rand() * (i + 1)))
        items[i], items[j] = items[j], items[i]
    return items


def split_half(repeats, splits, seed):
    reps = max(len(r) for r in repeats)
    rand = mulberry32(seed)
    half = reps // 2
    rs, sbs = [], []
    for _ in range(splits):
        order = shuffle(list(range(reps)), rand)
        a_idx = set(order[:half])
        a, b = [], []
        for row in repeats:
            va = [v for j, v in enumerate(row) if j in a_idx and not np.isnan(v)]
            vb = [v for j, v in enumerate(row) if j not in a_idx and not np.isnan(v)]
            if va and vb:
                a.append(np.mean(va))
                b.append(np.mean(vb))
        if len(a) < 3:
            continue
        r = float(stats.pearsonr(a, b).statistic)
        rs.append(r)
        sbs.append(-1.0 if r <= -1 / 3 else min(1.0, 2 * r / (1 + r)))
    return {"reliability": float(np.mean(sbs)), "meanR": float(np.mean(rs)), "splitsUsed": len(rs)}


reliability = []
tuning = rng.gamma(2.0, 5.0, size=20)
counts = rng.poisson(np.repeat(tuning[:, None], 6, axis=1)).astype(float)
reliability.append({"name": "20x6 poisson", "repeats": [fl(r) for r in counts], "splits": 50, "seed": 7,
                    **split_half(counts.tolist(), 50, 7)})
counts5 = rng.poisson(np.repeat(tuning[:12, None], 5, axis=1)).astype(float)
reliability.append({"name": "12x5 odd repetitions", "repeats": [fl(r) for r in counts5], "splits": 30, "seed": 123,
                    **split_half(counts5.tolist(), 30, 123)})
missing = counts.copy()
mask = rng.random(missing.shape) < 0.2
missing[mask] = np.nan
missing_rows = [fl(r) for r in missing]
reliability.append({"name": "20x6 with 20% missing", "repeats": [[None if np.isnan(v) else v for v in r] for r in missing_rows],
                    "splits": 40, "seed": 99, **split_half(missing.tolist(), 40, 99)})
noise = rng.normal(size=(10, 4))
reliability.append({"name": "10x4 pure noise", "repeats": [fl(r) for r in noise], "splits": 25, "seed": 1,
                    **split_half(noise.tolist(), 25, 1)})

random_streams = []
for seed in (0, 1, 42, -5, 2**32 + 3, 123456789):
    rand = mulberry32(seed)
    random_streams.append({"seed": seed, "values": [rand() for _ in range(8)]})
rand = mulberry32(2024)
random_shuffles = {"seed": 2024, "n": 10, "orders": [shuffle(list(range(10)), rand) for _ in range(5)]}

ranks = [{"values": v, "ranks": fl(stats.rankdata(v))} for v in
         ([3.0, 1.0, 2.0], [1.0, 2.0, 2.0, 3.0, 3.0, 3.0], [5.0, -1.0, 5.0, 0.0, -1.0, 5.0, 2.5])]

doc = {
    "generator": "test/reference/stats_reference.py",
    "scipy": scipy.__version__, "numpy": np.__version__,
    "correlations": correlations, "fisher": fisher, "normalQuantiles": quantiles,
    "mannWhitney": mwu, "kruskal": kruskal, "reliability": reliability,
    "randomStreams": random_streams, "randomShuffles": random_shuffles, "ranks": ranks,
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump(doc, f, indent=1, allow_nan=False)
print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")
