"""Reference numbers for the readout fit's location scan (analysis/readout/location-scan.ts): leave-one-out errors of
ridge regression with an unpenalized intercept on each pixel's z-scored features (every feature divided by its sd
over all rows; constant features dropped), by brute force — each row left out in turn and the ridge refitted on the
rest with NumPy — at every pixel of a small feature map, and the ridge readout at each target's best pixel on the raw
features (λ again by LOO).

Run: /usr/bin/python3 test/reference/location_scan_reference.py → test/fixtures/readout/location_scan_reference.json
"""
import json
import os

import numpy as np

rng = np.random.default_rng(20241204)
n, h, w, c = 18, 3, 4, 10
features = np.maximum(rng.normal(0.2, 1.0, size=(n, h, w, c)), 0).astype(np.float32)
# Two targets: a linear readout of pixel (1, 2) plus noise, and one of pixel (2, 0).
f = features.astype(np.float64)
w1 = rng.normal(size=c)
w2 = rng.normal(size=c)
targets = [f[:, 1, 2, :] @ w1 + 0.3 * rng.normal(size=n), f[:, 2, 0, :] @ w2 + 0.3 * rng.normal(size=n)]
targets = [(t - t.mean()) / t.std() for t in targets]  # standardized, as the fit gives them
ridges = [0.1, 1.0, 10.0]


def ridge(x, y, lam):
    """Ridge with an unpenalized intercept: centre on the rows given, solve (XcᵀXc + λI) w = Xcᵀ yc."""
    mx, my = x.mean(0), y.mean()
    xc = x - mx
    wv = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ (y - my))
    return wv, my - mx @ wv


def zscore(x):
    sd = x.std(0)
    return np.where(sd > 1e-6, (x - x.mean(0)) / np.where(sd > 1e-6, sd, 1), 0.0)


def loo(x, y, lam):
    errs = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        wv, b = ridge(x[keep], y[keep], lam)
        errs.append((x[i] @ wv + b - y[i]) ** 2)
    return float(np.mean(errs))


out = {"n": n, "h": h, "w": w, "c": c, "features": features.ravel().astype(float).tolist(),
       "targets": [t.tolist() for t in targets], "ridges": ridges, "errors": [], "best": []}
for t in targets:
    per_pixel = []
    for p in range(h * w):
        x = zscore(f[:, p // w, p % w, :])
        xc = x - x.mean(0)
        scale = np.trace(xc @ xc.T) / n  # λ = κ · tr(K_c)/n
        errs = [loo(x, t, k * scale) for k in ridges]
        per_pixel.append(min(errs))
    out["errors"].append(per_pixel)
    best = int(np.argmin(per_pixel))
    # The readout there: ridge on the raw features, λ again the smallest LOO error (λ = κ · tr(K_c)/n, raw K).
    raw = f[:, best // w, best % w, :]
    rc = raw - raw.mean(0)
    scale = np.trace(rc @ rc.T) / n
    errs = [loo(raw, t, k * scale) for k in ridges]
    lam = ridges[int(np.argmin(errs))] * scale
    wv, b = ridge(raw, t, lam)
    out["best"].append({"pixel": best, "location": [2 * (best % w) / (w - 1) - 1, 2 * (best // w) / (h - 1) - 1],
                        "lambda": lam, "weights": wv.tolist(), "bias": float(b)})

path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "readout", "location_scan_reference.json")
with open(path, "w") as fh:
    json.dump(out, fh)
print(path, [b["pixel"] for b in out["best"]])
