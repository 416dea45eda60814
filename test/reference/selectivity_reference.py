#!/usr/bin/python3
"""Reference values for the selectivity check (analysis/checks/channel-checks.ts) from SciPy.

Run:  /usr/bin/python3 test/reference/selectivity_reference.py
Writes test/fixtures/stats/selectivity_reference.json, read by test/analysis/channel-checks.test.ts.
Per channel: phase-2 net rates per trial for its own selected objects and control bodies (drawn here, seeded);
SciPy's two-sided Mann-Whitney U on the per-stimulus means (mean over each image's repeats), method "auto"
(exact for small samples without ties) as the check uses it, and the decision at alpha 0.05 with the bodies on top.
"""
import json
import os

import numpy as np
from scipy import stats

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "stats", "selectivity_reference.json")
rng = np.random.default_rng(20261204)
cases = []


def add(name, n_obj, n_ctl, obj_rate, ctl_rate, reps, sd=8.0):
    objects = {f"objects/o{i}": list(map(float, np.round(rng.normal(obj_rate, sd, reps), 3))) for i in range(n_obj)}
    controls = {f"control-bodies/c{i}": list(map(float, np.round(rng.normal(ctl_rate, sd, reps), 3))) for i in range(n_ctl)}
    obj_means = [float(np.mean(v)) for v in objects.values()]
    ctl_means = [float(np.mean(v)) for v in controls.values()]
    res = stats.mannwhitneyu(ctl_means, obj_means, alternative="two-sided", method="auto")
    cases.append({
        "name": name,
        "objects": objects,
        "controls": controls,
        "u": float(res.statistic),
        "p": float(res.pvalue),
        "passed": bool(res.pvalue < 0.05 and np.mean(ctl_means) > np.mean(obj_means)),
    })


add("body-selective, 9 vs 9, 6 repeats", 9, 9, 10.0, 40.0, 6)
add("not selective, 9 vs 9", 9, 9, 25.0, 25.0, 6)
add("objects higher (significant, wrong way)", 9, 9, 45.0, 10.0, 6)
add("body-selective, 4 vs 4, 2 repeats", 4, 4, 5.0, 50.0, 2)
add("uneven 7 vs 5, 3 repeats", 7, 5, 12.0, 30.0, 3, sd=15.0)
add("large 12 vs 10 (asymptotic)", 12, 10, 15.0, 25.0, 4, sd=10.0)

with open(OUT, "w") as f:
    json.dump({"generator": "test/reference/selectivity_reference.py", "cases": cases}, f, indent=1)
print(f"wrote {OUT}: {len(cases)} cases")
